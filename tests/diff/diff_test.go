// Package diff runs the same clientv3 sequences against an embedded etcd and
// an in-process MetaStore and requires the normalized answers to match.
package diff

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

var dump = flag.Bool("dump", false, "log etcd's normalized output of every case")

// tcase is one sequence of client calls. It reads and writes only keys under
// its env's prefix, so cases do not see each other's data.
type tcase struct {
	name string
	run  func(e *env)
	// known, when set, is MetaStore's expected output for a case where it
	// deliberately differs from etcd; the comment at the case says why.
	known []string
}

// env is one run of a case against one server.
type env struct {
	t      *testing.T
	c      *clientv3.Client
	kv     pb.KVClient
	lease  pb.LeaseClient
	ctx    context.Context
	prefix string
	n      *normalizer
	out    []string
	raw    *grpc.ClientConn // cases_auth_test.go: gRPC without clientv3's retries
}

// k is a key of the case.
func (e *env) k(s string) string { return e.prefix + s }

// rec records the normalized result of one call.
func (e *env) rec(label string, v any, err error) {
	if err != nil {
		e.out = append(e.out, label+" "+errText(err))
		return
	}
	e.out = append(e.out, label+" "+e.n.message(response(v).ProtoReflect()))
}

// note records a line of the case's own making.
func (e *env) note(format string, args ...any) {
	e.out = append(e.out, fmt.Sprintf(format, args...))
}

// rev is the current store revision (a read of the prefix's header).
func (e *env) rev() int64 {
	resp, err := e.c.Get(e.ctx, e.prefix)
	if err != nil {
		e.t.Fatalf("get revision: %v", err)
	}
	return resp.Header.Revision
}

func runCase(t *testing.T, c *clientv3.Client, tc tcase) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{t: t, c: c, kv: clientv3.RetryKVClient(c), lease: clientv3.RetryLeaseClient(c),
		ctx: ctx, prefix: "/" + tc.name + "/"}
	e.n = newNormalizer(e.rev())
	tc.run(e)
	cleanup(t, e)
	return e.out
}

// cleanup deletes the case's keys and every lease, so the next case starts
// from an empty key space and lease table.
func cleanup(t *testing.T, e *env) {
	if _, err := e.c.Delete(e.ctx, e.prefix, clientv3.WithPrefix()); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	ls, err := e.c.Leases(e.ctx)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	for _, l := range ls.Leases {
		if _, err := e.c.Revoke(e.ctx, l.ID); err != nil {
			t.Fatalf("cleanup: revoke %x: %v", l.ID, err)
		}
	}
}

func TestDifferential(t *testing.T) {
	etcd := startEtcd(t)
	// MetaStore on each engine: the engine must not show in any answer.
	engines := []string{"memory", "rocksdb"}
	ms := map[string]*clientv3.Client{}
	for _, e := range engines {
		ms[e] = startMetaStore(t, e)
	}
	cases := allCases()
	if len(cases) < 80 {
		t.Errorf("only %d cases", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			want := runCase(t, etcd, tc)
			if *dump {
				t.Logf("etcd:\n%s", strings.Join(want, "\n"))
			}
			for _, e := range engines {
				got := runCase(t, ms[e], tc)
				if tc.known != nil {
					// A known difference: etcd's answer is logged, MetaStore's
					// pinned, so a change on either side is noticed.
					if d := lineDiff(tc.known, got); d != "" {
						t.Errorf("known difference: MetaStore's output (%s engine) changed:\n%s", e, d)
					}
					if d := lineDiff(want, got); d == "" {
						t.Errorf("known difference is gone (%s engine): drop the known output", e)
					}
					continue
				}
				if d := lineDiff(want, got); d != "" {
					t.Errorf("etcd (-) and MetaStore (+, %s engine) differ:\n%s", e, d)
				}
			}
		})
	}
}

func allCases() []tcase {
	var all []tcase
	for _, group := range [][]tcase{kvCases(), rangeCases(), txnCases(), compactCases(),
		watchCases(), leaseCases(), errorCases(), edgeCases(), authCases()} {
		all = append(all, group...)
	}
	return all
}

// lineDiff shows both outputs line by line, marking the lines that differ;
// "" when they are equal.
func lineDiff(want, got []string) string {
	if strings.Join(want, "\n") == strings.Join(got, "\n") && len(want) == len(got) {
		return ""
	}
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w == g {
			fmt.Fprintf(&b, "  %s\n", w)
			continue
		}
		if i < len(want) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		if i < len(got) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	return b.String()
}
