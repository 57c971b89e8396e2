package sim

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"metastore/core/engine"
	"metastore/engines/rocksdb"
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
	// Snapshots on RocksDB are engine-held, and a follower catches up from
	// a file its leader made from the engine.
	for _, need := range []string{"crash", "crash_engine_lossy", "snapshot_install", "snapshot_engine_synced", "snapshot_send_file"} {
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

// TestRealEngineCrashModel: a crash of the real engine leaves exactly the
// state after a prefix of the batches: all of those before the last
// modeled flush, none issued after the crash instant, and, between the two,
// a prefix drawn with probability keep per batch.
func TestRealEngineCrashModel(t *testing.T) {
	store := rocksdb.SimStore{Dir: t.TempDir(), Options: rocksdb.SimOptions}
	host := NewHost(1, 1)
	e := newRealEngine(store, "n1", NewRand(7), host)
	e.flushIn = 1 << 30            // flushes only where the test says
	var states []map[string]string // states[i]: after batch i-1
	cur := map[string]string{}
	snap := func() { states = append(states, maps.Clone(cur)) }
	snap()
	write := func(at int64, ops ...string) { // "k=v" sets, "k" deletes
		host.BeginStep(at)
		b := e.NewBatch()
		for _, op := range ops {
			if k, v, ok := strings.Cut(op, "="); ok {
				b.Set([]byte(k), []byte(v))
				cur[k] = v
			} else {
				b.Delete([]byte(op))
				delete(cur, op)
			}
		}
		if err := e.Write(b); err != nil {
			t.Fatal(err)
		}
		snap()
	}
	contents := func(eng engine.Engine) map[string]string {
		got := map[string]string{}
		it := eng.NewIter(nil, nil)
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			got[string(it.Key())] = string(it.Value())
		}
		return got
	}
	write(10, "a=1", "b=1")
	write(20, "a=2", "c=1")
	e.flushIn = 1
	e.stepDone() // batches 1-2 are now beyond any crash's reach
	write(30, "a=3", "b", "a=4")
	write(40, "d=1", "c")
	write(50, "a=5", "b=2")

	// keep=1, crash at 45: the batch issued at 50 never happened.
	next, lost := e.crash(1, 45)
	if !lost || !maps.Equal(contents(next), states[4]) {
		t.Fatalf("crash at 45, keep 1: lost=%v, state %v, want %v", lost, contents(next), states[4])
	}
	// The reopened engine holds batches 1-4 and starts flushed: keep=0
	// loses everything written since, and nothing before.
	e = next.(*realEngine)
	e.flushIn = 1 << 30
	cur = maps.Clone(states[4])
	states = states[:5]
	write(60, "e=1")
	write(70, "a=6")
	next, lost = e.crash(0, 100)
	if !lost || !maps.Equal(contents(next), states[4]) {
		t.Fatalf("crash at 100, keep 0: lost=%v, state %v, want %v", lost, contents(next), states[4])
	}
	// keep=0.5 over ten batches: the survivors are a prefix of them.
	e = next.(*realEngine)
	e.flushIn = 1 << 30
	states = states[:5]
	cur = maps.Clone(states[4])
	for i := range 10 {
		write(int64(200+i), fmt.Sprintf("k%d=%d", i%3, i), fmt.Sprintf("x%d", (i+1)%3))
	}
	next, _ = e.crash(0.5, 1000)
	got := contents(next)
	if !slices.ContainsFunc(states[4:], func(s map[string]string) bool { return maps.Equal(s, got) }) {
		t.Fatalf("crash with keep 0.5 left %v, which is no prefix of the batches", got)
	}
	next.(*realEngine).close()
}
