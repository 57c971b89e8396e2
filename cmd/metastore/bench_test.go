package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"metastore/cmd/metastore/bench"
)

// TestBenchSubcommand runs every workload of `metastore bench` for a few
// hundred operations against an in-process member, through the same
// dispatch as the binary, and checks the counts in its JSON and what the
// puts left in the store.
func TestBenchSubcommand(t *testing.T) {
	p, err := build(testConfig(t, t.TempDir()), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.start()
	defer p.stop()
	ep := p.clientLis[0].Addr().String()

	const total = 300
	for _, w := range []string{"put", "range", "txn-put", "rmw", "watch-latency", "lease-keepalive"} {
		var out, errOut strings.Builder
		args := []string{"bench", w, "--endpoints=" + ep, "--clients=8", "--conns=2", fmt.Sprint("--total=", total),
			"--key-size=6", "--val-size=32", "--key-space-size=50", "--sequential-keys", "--json"}
		if code := mainErr(args, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", w, code, errOut.String())
		}
		var r bench.Result
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", w, err, out.String())
		}
		l := r.Latency
		if r.Workload != w || r.Ops != total || r.Errors != 0 || r.OpsPerSec <= 0 ||
			!(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s: %s", w, out.String())
		}
	}

	// The sequential puts covered the whole key space: keys 000000..000049.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "000000", clientv3.WithRange("000050"), clientv3.WithCountOnly())
	if err != nil || resp.Count != 50 {
		t.Errorf("keys in [000000, 000050): %v, %v; want 50", resp, err)
	}

	// The table names the percentiles; a duration-bounded run at a low rate
	// ends by itself.
	var out, errOut strings.Builder
	args := []string{"bench", "range", "--endpoints=" + ep, "--consistency=s", "--total=0", "--duration=300ms", "--rate=200"}
	if code := mainErr(args, &out, &errOut); code != 0 {
		t.Fatalf("range by duration: exit %d: %s", code, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "range (serializable)") || !strings.Contains(s, "p99.9 ms") {
		t.Errorf("table:\n%s", s)
	}
}

// TestBenchUnreachable fails fast with the endpoint in the message.
func TestBenchUnreachable(t *testing.T) {
	var out, errOut strings.Builder
	code := mainErr([]string{"bench", "put", "--endpoints=127.0.0.1:1", "--dial-timeout=300ms"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
