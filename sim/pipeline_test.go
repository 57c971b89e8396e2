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

// TestLogTrimCoverage: the sweep trims memory-engine raft logs past their
// snapshots (Config.LogKeepBytes) and sends the store to followers that
// lag behind such a trim, and stays correct doing so.
func TestLogTrimCoverage(t *testing.T) {
	skipWhenReplaying(t)
	total := map[string]int{}
	for seed := uint64(1); seed <= 30; seed++ {
		rep := runSeed(t, seed, Options{})
		if rep.Failed() {
			t.Errorf("seed %d: %s\n    replay: %s", seed, rep.Violations[0], replayLine(seed))
		}
		for k, v := range rep.Counts {
			total[k] += v
		}
	}
	t.Logf("log_trimmed_past_snapshot=%d snapshot_send_file=%d snapshot_install=%d",
		total["log_trimmed_past_snapshot"], total["snapshot_send_file"], total["snapshot_install"])
	for _, need := range []string{"log_trimmed_past_snapshot", "snapshot_send_file", "snapshot_install"} {
		if total[need] == 0 {
			t.Errorf("coverage: no %s in 30 seeds", need)
		}
	}
}
