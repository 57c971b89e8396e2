package main

import (
	"math"
	"strings"
	"testing"
)

// A report in the shape of etcd benchmark --precise (tools/benchmark v3.6).
const etcdReport = `
Summary:
  Total:	2.000000 secs.
  Slowest:	0.070000 secs.
  Fastest:	0.000400 secs.
  Average:	0.007500 secs.
  Stddev:	0.002000 secs.
  Requests/sec:	6621.500000

Response time histogram:
  0.000400 [1]	|
  0.070000 [12]	|∎

Latency distribution:
  10% in 0.004000 secs.
  99% in 0.019000 secs.
  99.9% in 0.050000 secs.

Error distribution:
  [3]	rpc error: code = Unavailable desc = etcdserver: request timed out
  [2]	context deadline exceeded
`

func TestParseEtcdReport(t *testing.T) {
	o, err := parseEtcdReport(etcdReport)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if o.Ops != 13243 || o.Errors != 5 || !near(o.OpsPerSec, 6621.5) || !near(o.P99MS, 19) ||
		!near(o.AvgMS, 7.5) || !near(o.MaxMS, 70) {
		t.Errorf("parsed %+v", o)
	}
	if _, err := parseEtcdReport("bench failed to connect\n"); err == nil {
		t.Error("an output without a summary parsed")
	}
}

func TestMedianAndSummary(t *testing.T) {
	if median(nil) != 0 || median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
	runs := []runResult{
		{Nodes: 1, Workload: "put-50", Server: etcdKind, outcome: outcome{OpsPerSec: 100, P99MS: 10}, Skewed: true},
		{Nodes: 1, Workload: "put-50", Server: metastoreKind, outcome: outcome{OpsPerSec: 300, P99MS: 5}},
		{Nodes: 1, Workload: "put-50", Server: metastoreKind, outcome: outcome{OpsPerSec: 100, P99MS: 7, Errors: 2}},
		{Nodes: 1, Workload: "put-50", Server: etcdKind, outcome: outcome{OpsPerSec: 200, P99MS: 20}},
		{Nodes: 1, Workload: "put-50", Server: etcdKind, Err: "start failed"},
		{Nodes: 3, Workload: "put-50", Server: etcdKind, outcome: outcome{OpsPerSec: 50}},
	}
	s := summarize(runs)
	if len(s) != 2 || s[0].Nodes != 1 || s[1].Nodes != 3 {
		t.Fatalf("summaries: %+v", s)
	}
	e, m := s[0].Etcd, s[0].MetaStore
	if e.OpsPerSec != 150 || e.P99MS != 15 || e.Rounds != 2 || e.Skewed != 1 ||
		m.OpsPerSec != 200 || m.P99MS != 6 || m.Errors != 2 || s[0].Ratio != 200.0/150 {
		t.Errorf("1 node: %+v", s[0])
	}
	if s[1].MetaStore.Rounds != 0 || s[1].Ratio != 0 || ratioCell(s[1].Etcd, s[1].MetaStore, s[1].Ratio) != "—" {
		t.Errorf("3 nodes without MetaStore figures: %+v", s[1])
	}
}

// TestRocksDBColumn: runs of both engines give a row per workload with
// every server's figures in the head's order, and each engine's ratio.
func TestRocksDBColumn(t *testing.T) {
	kinds, err := parseEngines("memory,rocksdb")
	if err != nil || len(kinds) != 3 || kinds[0] != etcdKind || kinds[1] != metastoreKind || kinds[2] != rocksdbKind {
		t.Fatalf("parseEngines = %v, %v", kinds, err)
	}
	for _, bad := range []string{"", "bolt", "memory,memory"} {
		if _, err := parseEngines(bad); err == nil {
			t.Errorf("parseEngines(%q) accepted", bad)
		}
	}
	rep := &report{Servers: kinds, Runs: []runResult{
		{Nodes: 1, Workload: "put-50", Title: "put, 50 clients", Server: etcdKind, outcome: outcome{OpsPerSec: 100, P99MS: 10}},
		{Nodes: 1, Workload: "put-50", Title: "put, 50 clients", Server: metastoreKind, outcome: outcome{OpsPerSec: 90, P99MS: 11}},
		{Nodes: 1, Workload: "put-50", Title: "put, 50 clients", Server: rocksdbKind, outcome: outcome{OpsPerSec: 150, P99MS: 7}, ServerCPUPerOpUS: 42},
	}}
	md := rep.markdown()
	s := rep.Summary[0]
	if s.Ratio != 0.9 || s.RatioRocksDB != 1.5 || s.RocksDB.ServerCPUPerOpUS != 42 {
		t.Fatalf("summary %+v", s)
	}
	head, row := rep.tableHead(), rep.tableRow(s)
	cells := func(line string) int { return strings.Count(strings.SplitN(line, "\n", 2)[0], "|") }
	if cells(head) != cells(row) {
		t.Errorf("head has %d bars, row %d:\n%s%s", cells(head), cells(row), head, row)
	}
	for _, want := range []string{"| ops/s etcd | ops/s memory | ops/s RocksDB | memory/etcd | RocksDB/etcd |",
		"| 100 | 90 | 150 | **0.90** | **1.50** | 10.0 ms · 11.0 ms · 7.0 ms |", "## 1 node: MetaStore (memory, RocksDB) / etcd"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if o := order(kinds, 2); o[0] != rocksdbKind || o[2] != etcdKind || order(kinds, 1)[0] != etcdKind {
		t.Errorf("order: %v, %v", order(kinds, 1), o)
	}
}

func TestLoadRatiosHoldTheLoadedStoreToItsEmptyMember(t *testing.T) {
	loads := []loadResult{
		{Server: etcdKind, Load: outcome{OpsPerSec: 20000}, LoadRSSBytes: 400, After: outcome{OpsPerSec: 14000, P99MS: 10}},
		{Server: metastoreKind, Load: outcome{OpsPerSec: 42000}, LoadRSSBytes: 560,
			Empty: outcome{OpsPerSec: 40000, P99MS: 4}, After: outcome{OpsPerSec: 34000, P99MS: 6}},
	}
	got := loadRatios(loads)
	for _, want := range []string{"load rate **2.10**", "resident memory after the load **1.40**",
		"put-50 rate after the load **2.43**", "at **85%** of the empty rate", "p99 **1.50×** the empty p99"} {
		if !strings.Contains(got, want) {
			t.Errorf("loadRatios = %q, want it to contain %q", got, want)
		}
	}
}
