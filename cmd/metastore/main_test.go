package main

import (
	"fmt"
	"strings"
	"testing"

	"metastore/net/config"
)

func TestPrintsResolvedConfig(t *testing.T) {
	saved := run
	defer func() { run = saved }()
	run = func(*config.Config) error { return nil } // print only; do not serve
	var out, errOut strings.Builder
	if code := mainErr([]string{"--name=n1", "--snapshot-count=42"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	id := fmt.Sprintf("member ID %x", config.MemberID("n1", []string{"http://127.0.0.1:2380"}, "metastore-cluster"))
	for _, want := range []string{id, "name: n1", "data-dir: n1.metastore", "snapshot-count: 42",
		"initial-cluster: n1=http://127.0.0.1:2380", "max-inflight-msgs: 512"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHelpAndErrors(t *testing.T) {
	var out, errOut strings.Builder
	if code := mainErr([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if !strings.Contains(errOut.String(), "three-member cluster") || !strings.Contains(errOut.String(), "-initial-cluster-token") ||
		!strings.Contains(errOut.String(), "metastore bench WORKLOAD") {
		t.Errorf("--help output:\n%s", errOut.String())
	}
	errOut.Reset()
	if code := mainErr([]string{"--engine=rocksdb", "--rocksdb-compression=brotli"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "brotli") {
		t.Errorf("bad rocksdb compression: exit %d, %s", code, errOut.String())
	}
}

func TestBenchHelp(t *testing.T) {
	var out, errOut strings.Builder
	if code := mainErr([]string{"bench", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("bench --help exit %d", code)
	}
	if !strings.Contains(errOut.String(), "watch-latency") || !strings.Contains(errOut.String(), "-key-space-size") {
		t.Errorf("bench --help output:\n%s", errOut.String())
	}
	if code := mainErr([]string{"bench", "put", "--clients=0"}, &out, &errOut); code != 2 {
		t.Errorf("bench with bad flags: exit %d, want 2", code)
	}
}

// An etcd flag metastore lacks stops the start with an error naming it.
func TestEtcdOnlyFlagRefused(t *testing.T) {
	saved := run
	defer func() { run = saved }()
	run = func(*config.Config) error { t.Error("run called despite an unsupported flag"); return nil }
	var out, errOut strings.Builder
	code := mainErr([]string{"--name=n1", "--wal-dir=/var/lib/etcd/wal"}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--wal-dir: etcd flag not supported by metastore") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
