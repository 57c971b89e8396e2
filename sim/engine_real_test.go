package sim

import (
	"flag"
	"testing"
	"time"
)

var rocksSeedsFlag = flag.Int("rocks-seeds", 12, "TestSweepRocksDB: how many seeds run on the real RocksDB engine")

// TestSweepRocksDB runs seeds with every machine's state machine on a real
// RocksDB database (in the seed's temporary directory), under the same
// faults and checks as TestSweep. TestSweep's 200 seeds draw RocksDB for
// about a third of them too (69 of seeds 1-200), so CI runs some 80 seeds
// on RocksDB in all; -rocks-seeds=N runs a longer RocksDB-only sweep.
func TestSweepRocksDB(t *testing.T) {
	skipWhenReplaying(t)
	n := *rocksSeedsFlag
	start := time.Now()
	total := map[string]int{}
	for i := 0; i < n; i++ {
		seed := 5000 + uint64(i)
		rep := runSeed(t, seed, Options{Engine: "rocksdb"})
		for k, v := range rep.Counts {
			total[k] += v
		}
		if rep.Failed() {
			t.Errorf("seed %d (rocksdb): %d violations, first: %s\n    replay: go test ./sim -run '^TestSimRocksDB$' -seed=%d -v",
				seed, len(rep.Violations), rep.Violations[0], seed)
		}
	}
	t.Logf("rocksdb sweep: %d seeds in %s; totals: %s", n, time.Since(start).Round(time.Second), (&Report{Counts: total}).CountsLine())
	// The crash model must have taken batches from the real engine, or the
	// restart path on a durable engine behind its writes went untested.
	for _, need := range []string{"crash", "crash_engine_lossy", "snapshot_install"} {
		if total[need] == 0 {
			t.Errorf("coverage: no %s across %d rocksdb seeds", need, n)
		}
	}
}

// TestSimRocksDB replays one seed on RocksDB (-seed=N).
func TestSimRocksDB(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = 5000
	}
	rep := runSeed(t, seed, Options{Engine: "rocksdb", Logf: t.Logf})
	t.Logf("seed=%d nodes=%d virtual=%s trace=%016x", seed, rep.Nodes, vt(rep.VirtualTime), rep.TraceHash)
	t.Logf("counts: %s", rep.CountsLine())
	for _, v := range rep.Violations {
		t.Errorf("%s", v)
	}
}

// TestDeterminismRocksDB: RocksDB's background threads (flushes,
// compactions) must not change anything a run observes.
func TestDeterminismRocksDB(t *testing.T) {
	skipWhenReplaying(t)
	for _, seed := range []uint64{5003, 5011} {
		a := runSeed(t, seed, Options{Engine: "rocksdb", Duration: 10 * time.Second})
		b := runSeed(t, seed, Options{Engine: "rocksdb", Duration: 10 * time.Second})
		if a.TraceHash != b.TraceHash || a.CountsLine() != b.CountsLine() {
			t.Errorf("seed %d: trace %016x vs %016x\n  %s\n  %s", seed, a.TraceHash, b.TraceHash, a.CountsLine(), b.CountsLine())
		}
	}
}
