package core_test

import (
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
	"metastore/core/mvcc"
	"metastore/core/wal"
	"metastore/engines/memory"
)

// smallSnapshots keeps 4 entries behind a compaction: a byte window of 1
// keeps no more (Config.LogKeepBytes, which would keep 8 MiB).
func smallSnapshots(cfg *core.Config) {
	cfg.SnapshotEntries, cfg.CatchUpEntries, cfg.LogKeepBytes = 16, 4, 1
}

func otherThan(c *testCluster, lead uint64) uint64 {
	if c.ids[0] == lead {
		return c.ids[1]
	}
	return c.ids[0]
}

// A follower cut off until the leader compacted past it catches up from a
// snapshot whose MsgSnap carries only a descriptor: the store travels as
// the snapshot file, streamed beside the message.
func TestCutOffFollowerCatchesUpFromStreamedSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, smallSnapshots)
	lead := c.leader()
	lagger := otherThan(c, lead)
	c.cut[lagger] = true
	for i := 0; i < 80; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%9), fmt.Sprintf("v%03d-%s", i, make([]byte, 200))); err != nil {
			t.Fatal(err)
		}
	}
	c.cut[lagger] = false
	c.tick(10)
	if c.nodes[lagger].Status().SnapshotsInstalled == 0 {
		t.Fatal("the cut-off follower caught up without installing a snapshot")
	}
	if c.sent[raftpb.MsgSnap] == 0 {
		t.Fatal("no MsgSnap was sent")
	}
	if c.maxSnapData > 64 {
		t.Fatalf("a MsgSnap carried %d bytes of data: the store itself, not a descriptor", c.maxSnapData)
	}
	c.hashesAgree()
	resp, _ := c.get(lagger, "k8", true) // last written at i = 71
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value[:5]) != "v071-" {
		t.Fatalf("k8 on the caught-up follower: %v", resp.Kvs)
	}
}

// A MsgSnap whose file never arrived is refused before raft sees it, so
// raft never adopts a snapshot the replica cannot install.
func TestSnapshotMessageWithoutItsFileIsRefused(t *testing.T) {
	c := newTestCluster(t, 3, smallSnapshots)
	lead := c.leader()
	for i := 0; i < 40; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	idx := c.nodes[lead].Status().SnapshotIdx
	if idx == 0 {
		t.Fatal("leader took no snapshot")
	}
	f, err := wal.LoadNewestSnapshot(c.disks[lead], fmt.Sprintf("/n%d/snap", lead))
	if err != nil || f == nil {
		t.Fatalf("leader's snapshot file: %v, %v", f, err)
	}
	fresh := newTestCluster(t, 1, nil) // a replica with an empty snapshot directory
	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(lead), To: proto.Uint64(1),
		Term: proto.Uint64(f.Meta.GetTerm()), Snapshot: &raftpb.Snapshot{Metadata: f.Meta, Data: []byte("MSSNAPD1\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00")}}
	if err := fresh.nodes[1].Step(m); !errors.Is(err, core.ErrSnapshotMissing) {
		t.Fatalf("Step of a MsgSnap without its file: %v, want ErrSnapshotMissing", err)
	}
}

// While a snapshot job is out (its file not yet written), the replica keeps
// committing and serving reads; the job writes the store as it was when
// taken, not as it is when it runs; and the log is compacted only once the
// job is done.
func TestSnapshotJobDoesNotStallAndWritesItsFrozenView(t *testing.T) {
	c := newTestCluster(t, 1, smallSnapshots)
	c.holdSnapshots = true
	lead := c.leader()
	for i := 0; len(c.heldSnaps) == 0; i++ {
		if i > 40 {
			t.Fatal("no snapshot job after 40 writes")
		}
		if _, err := c.put(lead, "k", fmt.Sprintf("old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	job := c.heldSnaps[lead]
	delete(c.heldSnaps, lead)
	r := c.nodes[lead]
	for i := 0; i < 40; i++ { // well past the next snapshot's threshold
		if _, err := c.put(lead, "k", "new"); err != nil {
			t.Fatalf("put while the snapshot job is out: %v", err)
		}
	}
	if resp, ok := c.get(lead, "k", false); !ok || string(resp.Kvs[0].Value) != "new" {
		t.Fatalf("linearizable read while the snapshot job is out: %v", resp)
	}
	if len(c.heldSnaps) != 0 {
		t.Fatal("a second snapshot job was started while one is out")
	}
	if st := r.Status(); st.SnapshotIdx >= job.Index {
		t.Fatalf("snapshot index %d before the job at %d completed", st.SnapshotIdx, job.Index)
	}
	paced := 0
	job.Pace = func() { paced++ }
	if err := job.Run(); err != nil {
		t.Fatal(err)
	}
	if paced == 0 {
		t.Fatal("Run wrote the store without calling Pace")
	}
	if err := r.SnapshotDone(job, nil); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.SnapshotIdx != job.Index {
		t.Fatalf("snapshot index %d after the job at %d completed", st.SnapshotIdx, job.Index)
	}
	// The file holds the frozen view: applied index and value as of the job.
	f, err := wal.StatSnapshot(c.disks[lead], fmt.Sprintf("/n%d/snap", lead), job.Term, job.Index)
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.OpenPayload(c.disks[lead])
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	st, _ := mvcc.Open(memory.New())
	if err := st.RestoreFrom(body); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Range(&pb.RangeRequest{Key: []byte("k")})
	if err != nil || st.AppliedIndex() != job.Index || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value[:3]) != "old" {
		t.Fatalf("snapshot file: applied %d (job %d), k = %v, %v", st.AppliedIndex(), job.Index, resp.GetKvs(), err)
	}
	// The next job comes with the next round.
	if _, err := c.put(lead, "k", "newer"); err != nil {
		t.Fatal(err)
	}
	if len(c.heldSnaps) != 1 {
		t.Fatal("no snapshot job after the first completed, though the threshold is passed")
	}
}

// A crash after the snapshot file is durable but before its WAL marker is
// written: recovery finds the file newer than the marker, writes the
// marker, and the replica rejoins with the same state.
func TestCrashBetweenSnapshotFileAndMarkerRecovers(t *testing.T) {
	c := newTestCluster(t, 3, smallSnapshots)
	c.holdSnapshots = true
	lead := c.leader()
	victim := otherThan(c, lead)
	job := c.heldSnapshotOf(lead, victim)
	if err := job.Run(); err != nil { // the file is written and synced ...
		t.Fatal(err)
	}
	before := c.nodes[victim].Status()
	c.crash(victim) // ... and the process dies before SnapshotDone
	c.start(victim)
	st := c.nodes[victim].Status()
	if !st.MarkerRepaired || st.SnapshotIdx != job.Index {
		t.Fatalf("after restart: marker repaired %v, snapshot index %d; want true, %d", st.MarkerRepaired, st.SnapshotIdx, job.Index)
	}
	if st.Applied < job.Index || st.Applied > before.Applied {
		t.Fatalf("restarted at applied %d; snapshot %d, applied before the crash %d", st.Applied, job.Index, before.Applied)
	}
	c.releaseHeldSnapshots(victim)
	if _, err := c.put(lead, "after", "crash"); err != nil {
		t.Fatal(err)
	}
	c.tick(3)
	c.hashesAgree()
	// A second restart finds the marker in the WAL: nothing to repair.
	c.crash(victim)
	c.start(victim)
	if c.nodes[victim].Status().MarkerRepaired {
		t.Fatal("the repaired marker was not durable")
	}
}
