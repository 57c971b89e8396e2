package sim

import (
	"testing"
	"time"
)

// TestPipelineCrashPoints shows the simulator reaches both crash points
// the pipelined write path adds: a crash while an append job's writes are
// not yet synced, and one after its sync returned but before the replica
// took the job back (its entries durable, not yet applied). The run must
// pass its checks too.
func TestPipelineCrashPoints(t *testing.T) {
	skipWhenReplaying(t)
	total := map[string]int{}
	crashy := func(f *Faults) {
		f.CrashEvery = 500 * time.Millisecond
		f.RestartDelayMax = 100 * time.Millisecond
	}
	for seed := uint64(1); seed <= 10; seed++ {
		rep := runSeed(t, seed, Options{Duration: 10 * time.Second, Tune: crashy})
		if rep.Failed() {
			t.Errorf("seed %d: %s\n    replay with the same Tune: %s", seed, rep.Violations[0], replayLine(seed))
		}
		for k, v := range rep.Counts {
			total[k] += v
		}
	}
	t.Logf("crashes=%d crash_append_unsynced=%d crash_synced_unapplied=%d", total["crash"],
		total["crash_append_unsynced"], total["crash_synced_unapplied"])
	for _, need := range []string{"crash_append_unsynced", "crash_synced_unapplied"} {
		if total[need] == 0 {
			t.Errorf("coverage: no %s in 10 crash-heavy seeds", need)
		}
	}
}
