package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"metastore/cmd/metastore/bench"
)

// TestWorkloadsParse checks every planned metastore bench command line
// against the bench's own flag parser, so a renamed flag fails here and
// not half-way through a comparison, and that the workloads are
// all planned.
func TestWorkloadsParse(t *testing.T) {
	for _, quick := range []bool{false, true} {
		var ids []string
		for _, w := range workloads(quick) {
			ids = append(ids, w.ID)
			for _, args := range [][]string{w.Args, w.Prefill} {
				if args == nil || (w.Tool == toolEtcd && !slices.Equal(args, w.Prefill)) {
					continue
				}
				if _, err := bench.Parse(append(args, "--endpoints=127.0.0.1:1"), io.Discard); err != nil {
					t.Errorf("quick=%v %s: %q: %v", quick, w.ID, args, err)
				}
			}
			if w.Tool == toolEtcd && (w.Args[0] != "put" || len(w.EtcdGlobal) == 0) {
				t.Errorf("%s: etcd benchmark args %q %q", w.ID, w.EtcdGlobal, w.Args)
			}
		}
		want := "put-1 put-50 put-1000 txn-put-50 range-l-50 range-s-50 etcd-put-50"
		if got := strings.Join(ids, " "); got != want {
			t.Errorf("quick=%v workloads %s, want %s", quick, got, want)
		}
	}
}

func TestOrderAlternates(t *testing.T) {
	kinds := []string{etcdKind, metastoreKind}
	if a, b := order(kinds, 1), order(kinds, 2); a[0] != etcdKind || b[0] != metastoreKind || a[1] != b[0] {
		t.Errorf("order(1) = %v, order(2) = %v", a, b)
	}
}
