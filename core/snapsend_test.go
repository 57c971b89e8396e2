package core_test

import (
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
	"metastore/core/engine"
	"metastore/core/wal"
	"metastore/engines/memory"
)

// syncedEngine stands in for RocksDB in core's tests: durable (it outlives
// the replica: Close keeps it, and the test hands it to the next Open) and
// a Syncer that counts its syncs.
type syncedEngine struct {
	*memory.Engine
	syncs int
}

func (e *syncedEngine) Durable() bool { return true }
func (e *syncedEngine) Sync() error   { e.syncs++; return nil }
func (e *syncedEngine) Close() error  { return nil }

// durableEngines gives each replica of a test cluster its own syncedEngine,
// the same one across restarts.
func durableEngines(engines map[uint64]*syncedEngine) func(*core.Config) {
	return func(cfg *core.Config) {
		smallSnapshots(cfg)
		e := engines[cfg.ID]
		if e == nil {
			e = &syncedEngine{Engine: memory.New()}
			engines[cfg.ID] = e
		}
		cfg.Engine = e
	}
}

// snapFiles lists the snapshot files (.snap) and the files made for
// sending (.send) in replica id's snapshot directory.
func snapFiles(t *testing.T, c *testCluster, id uint64) (snaps, sends []string) {
	t.Helper()
	names, err := c.disks[id].List(fmt.Sprintf("/n%d/snap", id))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, ".snap"):
			snaps = append(snaps, n)
		case strings.HasSuffix(n, ".send"):
			sends = append(sends, n)
		}
	}
	return snaps, sends
}

// On a durable engine that syncs (RocksDB), a snapshot writes no store:
// the engine is synced and the file holds only the metadata. A follower
// cut off until the leader compacted past it still catches up by
// snapshot: the leader makes a file from its engine at its applied index
// when raft sends the MsgSnap, the follower installs it, and the two
// stores agree. The file made for sending goes once its send is reported.
func TestDurableEngineSnapshotIsEngineHeldAndFollowerCatchesUpFromLazyFile(t *testing.T) {
	engines := map[uint64]*syncedEngine{}
	c := newTestCluster(t, 3, durableEngines(engines))
	lead := c.leader()
	lagger := otherThan(c, lead)
	c.cut[lagger] = true
	for i := 0; i < 80; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%9), fmt.Sprintf("v%03d-%s", i, make([]byte, 200))); err != nil {
			t.Fatal(err)
		}
	}
	st := c.nodes[lead].Status()
	if st.SnapshotIdx == 0 {
		t.Fatal("the leader took no snapshot")
	}
	if engines[lead].syncs == 0 {
		t.Fatal("the leader snapshotted without syncing its engine")
	}
	snaps, sends := snapFiles(t, c, lead)
	if len(snaps) == 0 || len(sends) != 0 {
		t.Fatalf("leader's snapshot directory: snapshots %v, files for sending %v", snaps, sends)
	}
	for _, n := range snaps {
		var term, index uint64
		if _, err := fmt.Sscanf(n, "%016x-%016x.snap", &term, &index); err != nil {
			t.Fatalf("snapshot file name %s: %v", n, err)
		}
		f, err := wal.StatSnapshot(c.disks[lead], fmt.Sprintf("/n%d/snap", lead), term, index)
		if err != nil {
			t.Fatalf("load %s: %v", n, err)
		}
		if !f.MetadataOnly() || f.Size > 256 {
			t.Fatalf("snapshot %s is %d bytes with a store payload of %d: the engine-held snapshot wrote the store", n, f.Size, f.PayloadSize())
		}
	}
	c.cut[lagger] = false
	c.tick(10)
	if c.nodes[lagger].Status().SnapshotsInstalled == 0 {
		t.Fatal("the cut-off follower caught up without installing a snapshot")
	}
	if c.nodes[lead].SendFilesMade() == 0 {
		t.Fatal("the leader made no file to send")
	}
	if c.maxSnapData > 64 {
		t.Fatalf("a MsgSnap carried %d bytes of data: the store itself, not a descriptor", c.maxSnapData)
	}
	// The follower installed the leader's state as of its applied index
	// when the MsgSnap left, not the engine-held snapshot raft chose.
	if got := c.nodes[lagger].Status().SnapshotIdx; got < st.SnapshotIdx {
		t.Fatalf("follower installed snapshot %d, older than the leader's %d", got, st.SnapshotIdx)
	}
	c.hashesAgree()
	rev := c.nodes[lead].Store().Rev()
	lh, _, _, err := c.nodes[lead].Store().HashKV(rev)
	if err != nil {
		t.Fatal(err)
	}
	fh, _, _, err := c.nodes[lagger].Store().HashKV(rev)
	if err != nil || fh != lh {
		t.Fatalf("HashKV at %d: follower %x (%v), leader %x", rev, fh, err, lh)
	}
	resp, _ := c.get(lagger, "k8", true) // last written at i = 71
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value[:5]) != "v071-" {
		t.Fatalf("k8 on the caught-up follower: %v", resp.Kvs)
	}
	if _, sends := snapFiles(t, c, lead); len(sends) != 1 {
		t.Fatalf("files for sending while the send is unreported: %v", sends)
	}
	c.nodes[lead].ReportSnapshot(lagger, true) // the transport's report
	c.stabilize()
	if _, sends := snapFiles(t, c, lead); len(sends) != 0 {
		t.Fatalf("files for sending left after the send was reported: %v", sends)
	}
}

// A crash after an engine-held snapshot synced the engine and wrote its
// metadata, before its WAL marker: recovery writes the marker and trusts
// the engine, which is at or past the snapshot. An engine behind an
// engine-held snapshot (its synced state lost) is refused at Open, not
// silently replayed from a log that no longer starts early enough.
func TestEngineHeldSnapshotRecovery(t *testing.T) {
	engines := map[uint64]*syncedEngine{}
	c := newTestCluster(t, 3, durableEngines(engines))
	c.holdSnapshots = true
	lead := c.leader()
	victim := otherThan(c, lead)
	job := c.heldSnapshotOf(lead, victim)
	if !job.EngineHeld {
		t.Fatal("a durable engine's snapshot job is not engine-held")
	}
	if err := job.Run(); err != nil { // synced and metadata written ...
		t.Fatal(err)
	}
	c.crash(victim) // ... and the process dies before SnapshotDone
	c.start(victim)
	st := c.nodes[victim].Status()
	if !st.MarkerRepaired || st.SnapshotIdx != job.Index || st.Applied < job.Index {
		t.Fatalf("after restart: marker repaired %v, snapshot %d, applied %d; want true, %d, >= %d",
			st.MarkerRepaired, st.SnapshotIdx, st.Applied, job.Index, job.Index)
	}
	c.releaseHeldSnapshots(victim)
	if _, err := c.put(lead, "after", "crash"); err != nil {
		t.Fatal(err)
	}
	c.tick(3)
	c.hashesAgree()

	// The engine loses what it synced: the member must not start.
	c.crash(victim)
	engines[victim] = &syncedEngine{Engine: memory.New()}
	if _, err := c.open(victim); err == nil || !strings.Contains(err.Error(), "held by the engine") {
		t.Fatalf("Open over an engine behind its engine-held snapshot: %v", err)
	}
}

// flushingEngine is a syncedEngine that, like RocksDB with its WAL
// buffered, keeps writes in the process until FlushWrites; it counts the
// writes not yet flushed and the flushes.
type flushingEngine struct {
	syncedEngine
	writes, unflushed, flushes int
}

func (e *flushingEngine) Write(b engine.Batch) error {
	e.writes++
	e.unflushed++
	return e.syncedEngine.Write(b)
}

func (e *flushingEngine) FlushWrites() error { e.flushes++; e.unflushed = 0; return nil }

// A replica on an engine that buffers writes hands them to the OS once
// 64 KiB of entries were applied, and at every tick: a busy replica flushes
// far less often than it writes, and once a tick found nothing new to
// apply, nothing applied is left in any engine's buffer.
func TestReplicaFlushesBufferedEngineWrites(t *testing.T) {
	engines := map[uint64]*flushingEngine{}
	c := newTestCluster(t, 3, func(cfg *core.Config) {
		e := engines[cfg.ID]
		if e == nil {
			e = &flushingEngine{syncedEngine: syncedEngine{Engine: memory.New()}}
			engines[cfg.ID] = e
		}
		cfg.Engine = e
	})
	lead := c.leader()
	c.tick(2)
	e := engines[lead]
	flushes0, writes0 := e.flushes, e.writes
	value := make([]byte, 1024)
	answered := 0
	for round := range 25 { // 200 KiB of entries, no tick
		for i := range 8 {
			req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "k%d-%d", round, i), Value: value}}
			c.nodes[lead].Propose(req, func(r core.Result) {
				if r.Err == nil {
					answered++
				}
			})
		}
		c.stabilize()
	}
	if answered != 200 {
		t.Fatalf("%d of 200 puts answered", answered)
	}
	flushes, writes := e.flushes-flushes0, e.writes-writes0
	if flushes < 2 || flushes*20 > writes {
		t.Fatalf("the leader flushed %d times for %d writes (200 KiB of entries, no tick): want one flush per 64 KiB", flushes, writes)
	}
	c.tick(2)
	for id, e := range engines {
		if e.unflushed != 0 {
			t.Fatalf("node %d left %d applied writes unflushed after two ticks", id, e.unflushed)
		}
	}
}
