package sim

import (
	"testing"
	"time"

	"metastore/core"
)

// canary is a deliberate bug with the fault mix that exposes it and the
// number of seeds within which the checker must catch it.
type canary struct {
	name   string
	seeds  int
	canary core.Canaries
	opts   Options
	tune   func(*Faults)
}

func canaries() []canary {
	lossyCrashes := func(f *Faults) {
		f.CrashEvery = time.Second
		f.KeepUnsynced = 0.2
		f.RestartDelayMax = 200 * time.Millisecond
		f.SyncErrorProb, f.DiskFullEvery = 0, 0
	}
	return []canary{
		{name: "C1_reads_without_read_index", seeds: 5, canary: core.Canaries{ReadWithoutReadIndex: true}},
		{name: "C2_ack_on_append", seeds: 10, canary: core.Canaries{AckOnAppend: true}},
		{name: "C3_wal_sync_does_nothing", seeds: 50, canary: core.Canaries{SkipWALSync: true}, tune: lossyCrashes},
		{name: "C4_send_before_persist", seeds: 200, canary: core.Canaries{SendBeforePersist: true}, tune: func(f *Faults) {
			lossyCrashes(f)
			f.KeepUnsynced = 0
			f.SyncSpikeProb, f.SyncSpikeMax = 0.3, 300*time.Millisecond
		}},
		{name: "C5_no_dedup", seeds: 20, canary: core.Canaries{NoDedup: true}, tune: func(f *Faults) {
			f.NetDupProb = 0.05
		}},
		{name: "C6_lease_based_reads", seeds: 20, canary: core.Canaries{LeaseBasedReads: true},
			opts: Options{PartitionShape: "isolate-pause-leader"}, tune: func(f *Faults) {
				f.PartitionEvery, f.PartitionFor = 3*time.Second, 3*time.Second
			}},
		{name: "C7_applied_index_apart", seeds: 50, canary: core.Canaries{AppliedIndexApart: true},
			opts: Options{Engine: "durable"}, tune: lossyCrashes},
		{name: "C8_ignore_auth", seeds: 5, canary: core.Canaries{IgnoreAuth: true}, opts: Options{Auth: true}},
		// A watch resumed at the compact revision is served what compaction
		// left of it; the watcher's rewinds below the floor reach it.
		{name: "C9_history_at_compact_rev", seeds: 30, canary: core.Canaries{HistoryAtCompactRev: true}},
		// A key read at a revision when it was deleted shows the version the
		// deletion ended; only the clients' reads at old revisions see it.
		{name: "C10_old_reads_skip_tombstones", seeds: 10, canary: core.Canaries{OldReadsSkipTombstones: true}},
		// etcd refuses a read below the compact revision, not at it: only a
		// read at exactly the floor, which clients aim at, tells them apart.
		{name: "C11_compact_rev_unreadable", seeds: 30, canary: core.Canaries{CompactRevUnreadable: true}},
		// The same bug on the real RocksDB engine, under the same crash model.
		{name: "C7_applied_index_apart_rocksdb", seeds: 50, canary: core.Canaries{AppliedIndexApart: true},
			opts: Options{Engine: "rocksdb"}, tune: lossyCrashes},
	}
}

// TestCanaries proves the checker is not vacuous: each deliberate bug must
// be caught within its seed budget, and the catching seed must pass with
// the bug switched off.
func TestCanaries(t *testing.T) {
	skipWhenReplaying(t)
	for _, c := range canaries() {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.Canary = c.canary
			opts.Tune = c.tune
			caught := uint64(0)
			for seed := uint64(1); seed <= uint64(c.seeds); seed++ {
				rep := runSeed(t, seed, opts)
				if rep.Failed() {
					caught = seed
					t.Logf("caught at seed %d: %s", seed, rep.Violations[0])
					break
				}
			}
			if caught == 0 {
				t.Fatalf("canary not caught within %d seeds", c.seeds)
			}
			opts.Canary = core.Canaries{}
			if rep := runSeed(t, caught, opts); rep.Failed() {
				t.Fatalf("seed %d fails without the canary too: %s", caught, rep.Violations[0])
			}
		})
	}
}
