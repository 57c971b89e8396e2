package core_test

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

// Large entries are snapshotted and compacted by bytes, long before the
// entry counts would: the raft log held in memory stays within about
// twice LogBytes (since the snapshot, and the catch-up entries behind it),
// and a follower cut off meanwhile still catches up.
func TestRaftLogInMemoryIsBoundedInBytes(t *testing.T) {
	const logBytes = 16 << 10
	c := newTestCluster(t, 3, func(cfg *core.Config) {
		cfg.SnapshotEntries, cfg.CatchUpEntries, cfg.LogBytes = 10_000, 5_000, logBytes
	})
	lead := c.leader()
	lagger := otherThan(c, lead)
	c.cut[lagger] = true
	value := strings.Repeat("v", 1024)
	maxHeld := 0
	// NB: 120 puts, because the store keeps every revision: past 96 KiB
	// of them a snapshot also waits for a sixth of its size in entries
	// (snapshotLogRatio), more than the budget.
	for i := 0; i < 120; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%7), value); err != nil {
			t.Fatal(err)
		}
		_, held := heldLog(t, c.nodes[lead])
		maxHeld = max(maxHeld, held)
	}
	if c.nodes[lead].Status().SnapshotIdx == 0 {
		t.Fatal("120 entries of 1 KiB with a 16 KiB log budget took no snapshot")
	}
	if maxHeld > 2*logBytes+2048 {
		t.Fatalf("the leader's raft log held %d bytes, over twice the %d-byte budget", maxHeld, logBytes)
	}
	c.cut[lagger] = false
	c.tick(10)
	if c.nodes[lagger].Status().SnapshotsInstalled == 0 {
		t.Fatal("the cut-off follower caught up without a snapshot, though the log was compacted past it")
	}
	c.hashesAgree()
}

// TestLogTrimmedPastSnapshotSendsTheStore: a memory-engine leader trims its
// raft log behind the applied index, past its newest snapshot, so a
// follower cut off meanwhile cannot catch up from the log nor from that
// snapshot; it is sent the store as of the leader's applied index and ends
// with the same state.
func TestLogTrimmedPastSnapshotSendsTheStore(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *core.Config) {
		cfg.SnapshotEntries, cfg.CatchUpEntries, cfg.LogBytes, cfg.LogKeepBytes = 16, 4, 4096, 512
	})
	lead := c.leader()
	lagger := c.ids[0]
	if lagger == lead {
		lagger = c.ids[1]
	}
	c.cut[lagger] = true
	for i := 0; i < 300; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%40), fmt.Sprintf("value %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := c.nodes[lead].Status()
	if c.nodes[lead].LogTrimsPastSnapshot() == 0 {
		t.Fatalf("the leader never trimmed its log past its snapshot (snapshot at %d, applied %d)", st.SnapshotIdx, st.Applied)
	}
	c.cut[lagger] = false
	c.tick(20)
	if c.nodes[lagger].SnapshotsInstalled() == 0 {
		t.Fatal("the lagging follower caught up without a snapshot")
	}
	if c.nodes[lead].SendFilesMade() == 0 {
		t.Fatal("the leader sent its snapshot file, which the log does not follow, instead of the store as of its applied index")
	}
	c.hashesAgree()
}

// TestLogTrimKeepsLogKeepBytes: a trim keeps LogKeepBytes of applied
// entries when they reach further back than CatchUpEntries, so a follower
// that lags by less than that catches up from the log.
func TestLogTrimKeepsLogKeepBytes(t *testing.T) {
	const keep = 2048
	c := newTestCluster(t, 1, func(cfg *core.Config) {
		cfg.SnapshotEntries, cfg.CatchUpEntries, cfg.LogBytes, cfg.LogKeepBytes = 16, 2, 1<<20, keep
	})
	lead := c.leader()
	value := strings.Repeat("v", 64)
	trimmed := false
	for i := 0; i < 400; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%9), value); err != nil {
			t.Fatal(err)
		}
		if c.nodes[lead].LogTrimsPastSnapshot() == 0 {
			continue
		}
		trimmed = true
		ents, held := heldLog(t, c.nodes[lead])
		// NB: less than one entry short of the window, whatever the
		// entries applied since the last trim.
		if held < keep-len(ents[0].GetData()) {
			t.Fatalf("after put %d the log holds %d entries of %d bytes: the trim kept less than %d bytes", i, len(ents), held, keep)
		}
	}
	if !trimmed {
		t.Fatal("the log was never trimmed past a snapshot")
	}
}

// heldLog returns the entries r's raft log holds and the bytes of their
// data.
func heldLog(t *testing.T, r *core.Replica) (ents []*raftpb.Entry, held int) {
	t.Helper()
	first, last := r.LogBounds()
	ents, err := r.LogEntries(first, last+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		held += len(e.GetData())
	}
	return ents, held
}
