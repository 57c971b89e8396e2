package core_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
	"metastore/core/disk"
	"metastore/engines/memory"
)

// testCluster runs replicas in-process with hand-driven message delivery:
// no simulator, no faults beyond the cuts and crashes a test asks for.
type testCluster struct {
	t       *testing.T
	ids     []uint64
	nodes   map[uint64]*core.Replica
	disks   map[uint64]*disk.Mem
	inbox   []*raftpb.Message
	cut     map[uint64]bool // nodes whose messages are dropped both ways
	clock   *testClock
	cfgTune func(*core.Config)
	sent    map[raftpb.MessageType]int // messages sent, by type
	// snapBodies holds the file sent with each MsgSnap in the inbox, as a
	// transport streams it after the message.
	snapBodies map[*raftpb.Message][]byte
	// maxSnapData is the largest Snapshot.Data a MsgSnap carried.
	maxSnapData int
	// holdSnapshots leaves snapshot jobs with the test (heldSnaps) instead of
	// running them at once.
	holdSnapshots bool
	heldSnaps     map[uint64]*core.SnapshotJob
	// holdAppends: replicas whose append jobs stabilize leaves out (the
	// test runs them); the others' jobs run at once (Config.Pipeline).
	holdAppends map[uint64]bool
	held        map[uint64]*core.AppendJob
}

type testClock struct{ now time.Duration }

func (c *testClock) Now() time.Duration { return c.now }

type testNet struct{ c *testCluster }

func (n testNet) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		n.c.sent[m.GetType()]++
		cp := proto.Clone(m).(*raftpb.Message)
		n.c.inbox = append(n.c.inbox, cp)
		if m.GetType() == raftpb.MsgSnap {
			n.c.snapBodies[cp] = n.c.readSnapshotFile(m)
			n.c.maxSnapData = max(n.c.maxSnapData, len(m.GetSnapshot().GetData()))
		}
	}
}

func newTestCluster(t *testing.T, n int, tune func(*core.Config)) *testCluster {
	c := &testCluster{t: t, nodes: map[uint64]*core.Replica{}, disks: map[uint64]*disk.Mem{},
		cut: map[uint64]bool{}, clock: &testClock{}, cfgTune: tune, sent: map[raftpb.MessageType]int{},
		snapBodies: map[*raftpb.Message][]byte{}, heldSnaps: map[uint64]*core.SnapshotJob{},
		holdAppends: map[uint64]bool{}, held: map[uint64]*core.AppendJob{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		c.disks[id] = disk.NewMem()
		c.start(id)
	}
	return c
}

func (c *testCluster) start(id uint64) {
	c.t.Helper()
	r, err := c.open(id)
	if err != nil {
		c.t.Fatalf("open replica %d: %v", id, err)
	}
	c.nodes[id] = r
}

// open opens replica id on its disk, as start does, and returns it.
func (c *testCluster) open(id uint64) (*core.Replica, error) {
	cfg := core.Config{
		ID: id, Peers: c.ids, Dir: fmt.Sprintf("/n%d", id), Disk: c.disks[id], Clock: c.clock,
		Network: testNet{c}, Engine: memory.New(), Rand: rand.New(rand.NewPCG(id, 7)),
		WALSegmentBytes: 64 << 10,
	}
	if c.cfgTune != nil {
		c.cfgTune(&cfg)
	}
	return core.Open(cfg)
}

// crash discards a replica and keeps only what its disk had synced.
func (c *testCluster) crash(id uint64) {
	c.nodes[id].Close()
	delete(c.nodes, id)
	delete(c.held, id)
	c.disks[id] = c.disks[id].CrashClone(rand.New(rand.NewPCG(1, 2)), 0)
}

// stabilize handles Ready and delivers messages until the cluster is quiet.
func (c *testCluster) stabilize() {
	c.t.Helper()
	for round := 0; round < 10000; round++ {
		busy := false
		for _, id := range c.ids {
			r := c.nodes[id]
			if r == nil {
				continue
			}
			for {
				if r.HasReady() {
					if err := r.HandleReady(); err != nil {
						c.t.Fatalf("replica %d: %v", id, err)
					}
				} else if !c.runStages(id) {
					break
				}
				busy = true
			}
			if c.runSnapshotJob(id) {
				busy = true // its completion queues WAL upkeep for the append stage
			}
		}
		msgs := c.inbox
		c.inbox = nil
		for _, m := range msgs {
			busy = true
			to, from := m.GetTo(), m.GetFrom()
			body, isSnap := c.snapBodies[m]
			delete(c.snapBodies, m)
			if c.cut[to] || c.cut[from] || c.nodes[to] == nil {
				continue
			}
			if isSnap {
				if err := c.nodes[to].SnapshotFiles().Receive(m, bytes.NewReader(body)); err != nil {
					c.t.Fatalf("receive snapshot on %d: %v", to, err)
				}
			}
			if err := c.nodes[to].Step(m); err != nil {
				c.t.Fatalf("step %d: %v", to, err)
			}
		}
		if !busy {
			return
		}
	}
	c.t.Fatal("cluster did not stabilize")
}

// runSnapshotJob runs replica id's snapshot job to completion, or holds it
// for the test to finish (holdSnapshots). It reports whether it completed
// one.
func (c *testCluster) runSnapshotJob(id uint64) bool {
	c.t.Helper()
	r := c.nodes[id]
	job := r.SnapshotJob()
	if job == nil {
		return false
	}
	if c.holdSnapshots {
		c.heldSnaps[id] = job
		return false
	}
	if err := r.SnapshotDone(job, job.Run()); err != nil {
		c.t.Fatalf("snapshot on %d: %v", id, err)
	}
	return true
}

// heldSnapshotOf writes through lead until replica id's snapshot job is
// held (holdSnapshots), and returns that job.
func (c *testCluster) heldSnapshotOf(lead, id uint64) *core.SnapshotJob {
	c.t.Helper()
	for i := 0; c.heldSnaps[id] == nil; i++ {
		if i > 40 {
			c.t.Fatal("no snapshot job on the follower after 40 writes")
		}
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i)); err != nil {
			c.t.Fatal(err)
		}
	}
	return c.heldSnaps[id]
}

// releaseHeldSnapshots stops holding snapshot jobs and completes those held
// for every replica but except.
func (c *testCluster) releaseHeldSnapshots(except uint64) {
	c.t.Helper()
	c.holdSnapshots = false
	for k, j := range c.heldSnaps {
		if k != except {
			if err := c.nodes[k].SnapshotDone(j, j.Run()); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

// readSnapshotFile reads the file a MsgSnap stands for from its sender.
func (c *testCluster) readSnapshotFile(m *raftpb.Message) []byte {
	c.t.Helper()
	rc, size, err := c.nodes[m.GetFrom()].SnapshotFiles().Open(m)
	if err != nil {
		c.t.Fatalf("open snapshot of %d: %v", m.GetFrom(), err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil || int64(len(body)) != size {
		c.t.Fatalf("read snapshot of %d: %d of %d bytes: %v", m.GetFrom(), len(body), size, err)
	}
	return body
}

// runStages runs a pipelined replica's stages at once, as a world with
// instant disks would (nothing to do without Config.Pipeline): its apply
// jobs, and its append job unless the test holds them. It reports whether
// it ran anything.
func (c *testCluster) runStages(id uint64) bool {
	c.t.Helper()
	r := c.nodes[id]
	ran := false
	if c.held[id] == nil {
		if j := r.NextAppend(); j != nil {
			ran = true
			if c.holdAppends[id] {
				c.held[id] = j
			} else if err := c.finishAppend(id, j); err != nil {
				c.t.Fatalf("replica %d: append: %v", id, err)
			}
		}
	}
	for j := r.NextApply(); j != nil; j = r.NextApply() {
		ran = true
		if err := r.Apply(j); err != nil {
			c.t.Fatalf("replica %d: apply: %v", id, err)
		}
	}
	return ran
}

func (c *testCluster) finishAppend(id uint64, j *core.AppendJob) error {
	_ = j.Run()
	return c.nodes[id].AppendDone(j)
}

func (c *testCluster) tick(n int) {
	for i := 0; i < n; i++ {
		c.clock.now += 100 * time.Millisecond
		for _, id := range c.ids {
			if r := c.nodes[id]; r != nil {
				r.Tick()
			}
		}
		c.stabilize()
	}
}

// leader ticks until exactly one live, uncut replica leads, and returns it.
func (c *testCluster) leader() uint64 {
	c.t.Helper()
	for i := 0; i < 200; i++ {
		for _, id := range c.ids {
			if r := c.nodes[id]; r != nil && !c.cut[id] && r.Status().Role == "leader" {
				return id
			}
		}
		c.tick(1)
	}
	c.t.Fatal("no leader elected")
	return 0
}

func (c *testCluster) put(at uint64, key, val string) (*pb.PutResponse, error) {
	c.t.Helper()
	var got *core.Result
	c.nodes[at].Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(val)}},
		func(r core.Result) { got = &r })
	c.stabilize()
	if got == nil {
		return nil, fmt.Errorf("put %s on %d: no answer", key, at)
	}
	if got.Err != nil {
		return nil, got.Err
	}
	return got.Resp.(*pb.PutResponse), nil
}

func (c *testCluster) get(at uint64, key string, serializable bool) (*pb.RangeResponse, bool) {
	var got *core.Result
	c.nodes[at].Read(&pb.RangeRequest{Key: []byte(key), Serializable: serializable}, func(r core.Result) { got = &r })
	c.stabilize()
	if got == nil {
		return nil, false
	}
	if got.Err != nil {
		c.t.Fatalf("get %s on %d: %v", key, at, got.Err)
	}
	return got.Resp.(*pb.RangeResponse), true
}

func (c *testCluster) hashesAgree() {
	c.t.Helper()
	var ref uint32
	var refID uint64
	for _, id := range c.ids {
		r := c.nodes[id]
		if r == nil {
			continue
		}
		h := r.Store().Hash()
		if refID == 0 {
			ref, refID = h, id
			continue
		}
		if h != ref || r.Status().Applied != c.nodes[refID].Status().Applied {
			c.t.Fatalf("replica %d hash %x applied %d, replica %d hash %x applied %d", id, h,
				r.Status().Applied, refID, ref, c.nodes[refID].Status().Applied)
		}
	}
}

func TestClusterWritesCommitOnEveryReplica(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	var lastRev int64
	for i := 0; i < 20; i++ {
		at := lead
		if i%2 == 1 {
			at = follower // forwarded to the leader through raft
		}
		resp, err := c.put(at, fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Revision != lastRev+1 && lastRev != 0 {
			t.Fatalf("put %d got revision %d after %d", i, resp.Header.Revision, lastRev)
		}
		lastRev = resp.Header.Revision
	}
	c.tick(2)
	c.hashesAgree()
	for _, id := range c.ids {
		resp, ok := c.get(id, "k4", true)
		if !ok || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v19" {
			t.Fatalf("replica %d serializable read of k4: %v", id, resp)
		}
	}
}

func TestReadIndexNeverServesStaleDataFromAPartitionedLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	old := c.leader()
	if _, err := c.put(old, "x", "1"); err != nil {
		t.Fatal(err)
	}
	c.cut[old] = true
	c.tick(30) // the majority elects a new leader; the old one steps down (CheckQuorum)
	lead := c.leader()
	if lead == old {
		t.Fatal("cut leader still leads")
	}
	if _, err := c.put(lead, "x", "2"); err != nil {
		t.Fatal(err)
	}
	// A linearizable read on the cut replica must not answer with "1".
	var got *core.Result
	c.nodes[old].Read(&pb.RangeRequest{Key: []byte("x")}, func(r core.Result) { got = &r })
	c.tick(5)
	if got != nil && got.Err == nil {
		t.Fatalf("partitioned old leader answered a linearizable read: %v", got.Resp)
	}
	// Healed, the same read completes with the new value (the retry uses a
	// fresh ReadIndex context).
	c.cut[old] = false
	c.tick(25)
	if got == nil {
		t.Fatal("read never completed after heal")
	}
	if got.Err != nil {
		t.Fatalf("read after heal: %v", got.Err)
	}
	kvs := got.Resp.(*pb.RangeResponse).Kvs
	if len(kvs) != 1 || string(kvs[0].Value) != "2" {
		t.Fatalf("read after heal returned %v, want x=2", kvs)
	}
}

func TestRestartRecoversFromWALAndSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *core.Config) { cfg.SnapshotEntries = 16; cfg.CatchUpEntries = 4 })
	lead := c.leader()
	for i := 0; i < 60; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	victim := c.ids[0]
	if victim == lead {
		victim = c.ids[1]
	}
	if c.nodes[victim].Status().SnapshotIdx == 0 {
		t.Fatal("no snapshot was taken")
	}
	before := c.nodes[victim].Store().Hash()
	applied := c.nodes[victim].Status().Applied
	c.crash(victim)
	c.start(victim)
	if got := c.nodes[victim].Status().Applied; got == 0 || got > applied {
		t.Fatalf("restarted replica applied %d, before crash %d", got, applied)
	}
	c.tick(3)
	if got := c.nodes[victim].Store().Hash(); got != before && c.nodes[victim].Status().Applied == applied {
		t.Fatalf("hash after restart %x, before %x", got, before)
	}
	c.hashesAgree()
	resp, _ := c.get(victim, "k3", false)
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v59" {
		t.Fatalf("k3 after restart: %v", resp.Kvs)
	}
}

func TestLaggingFollowerCatchesUpFromSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *core.Config) { cfg.SnapshotEntries = 16; cfg.CatchUpEntries = 4 })
	lead := c.leader()
	lagger := c.ids[0]
	if lagger == lead {
		lagger = c.ids[1]
	}
	c.cut[lagger] = true
	for i := 0; i < 80; i++ {
		if _, err := c.put(lead, fmt.Sprintf("k%d", i%9), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if c.nodes[lead].Status().SnapshotIdx == 0 {
		t.Fatal("leader took no snapshot")
	}
	c.cut[lagger] = false
	c.tick(10)
	if c.nodes[lagger].Status().SnapshotIdx == 0 {
		t.Fatal("lagging follower caught up without a snapshot install")
	}
	c.hashesAgree()
}

func TestMembersRecordedAfterBootstrap(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.leader()
	for _, id := range c.ids {
		st := c.nodes[id].Status()
		if !slices.Equal(st.Voters, c.ids) {
			t.Fatalf("replica %d voters %v", id, st.Voters)
		}
		if n := len(c.nodes[id].Store().Members()); n != 3 {
			t.Fatalf("replica %d records %d members", id, n)
		}
	}
}

func TestLeaseExpiresThroughRaftAndKeepAliveNeedsTheLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	var grant *core.Result
	c.nodes[lead].Propose(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 2}}, func(r core.Result) { grant = &r })
	c.stabilize()
	if grant == nil || grant.Err != nil {
		t.Fatalf("grant: %+v", grant)
	}
	id := grant.Resp.(*pb.LeaseGrantResponse).ID
	var put *core.Result
	c.nodes[lead].Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("eph"), Value: []byte("v"), Lease: id}},
		func(r core.Result) { put = &r })
	c.stabilize()
	if put == nil || put.Err != nil {
		t.Fatalf("put with lease: %+v", put)
	}
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	var ka *core.Result
	c.nodes[follower].LeaseKeepAlive(id, func(r core.Result) { ka = &r })
	if ka == nil || ka.Err != core.ErrNotLeader {
		t.Fatalf("keep-alive on a follower: %+v", ka)
	}
	// Kept alive past its TTL, the lease lives.
	for i := 0; i < 4; i++ {
		c.tick(10)
		ka = nil
		c.nodes[lead].LeaseKeepAlive(id, func(r core.Result) { ka = &r })
		c.stabilize()
		if ka == nil || ka.Err != nil {
			t.Fatalf("keep-alive %d on the leader: %+v", i, ka)
		}
	}
	if resp, _ := c.get(follower, "eph", false); len(resp.Kvs) != 1 {
		t.Fatal("leased key gone while kept alive")
	}
	// Left alone, it expires: the leader proposes the revoke and every
	// replica deletes the key.
	c.tick(30)
	for _, id := range c.ids {
		if resp, _ := c.get(id, "eph", true); len(resp.Kvs) != 0 {
			t.Fatalf("replica %d still has the key of an expired lease", id)
		}
		if n := len(c.nodes[id].Store().Leases()); n != 0 {
			t.Fatalf("replica %d still has %d leases", id, n)
		}
	}
}

func TestForgottenRequestIsNeverAnswered(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	c.cut[lead] = true // the proposal is appended but cannot commit yet
	called := false
	req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}}
	c.nodes[lead].Propose(req, func(core.Result) { called = true })
	c.stabilize()
	c.nodes[lead].Forget(req.Header.ID)
	c.cut[lead] = false
	c.tick(3) // the same leader reaches its followers again and commits
	if resp, _ := c.get(lead, "k", true); len(resp.Kvs) != 1 {
		t.Fatal("the forgotten request was not applied; the test proves nothing")
	}
	if called {
		t.Fatal("callback of a forgotten request was called")
	}
}

func TestReadsQueuedTogetherShareOneReadIndexRound(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	if _, err := c.put(lead, "x", "1"); err != nil {
		t.Fatal(err)
	}
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	c.sent = map[raftpb.MessageType]int{}
	answered := 0
	for i := 0; i < 10; i++ {
		c.nodes[follower].Read(&pb.RangeRequest{Key: []byte("x")}, func(r core.Result) {
			if r.Err == nil && len(r.Resp.(*pb.RangeResponse).Kvs) == 1 {
				answered++
			}
		})
	}
	c.stabilize()
	if answered != 10 {
		t.Fatalf("%d of 10 reads answered", answered)
	}
	// The first read starts a round; the nine queued behind it share the next.
	if n := c.sent[raftpb.MsgReadIndex]; n != 2 {
		t.Fatalf("10 reads took %d ReadIndex rounds, want 2", n)
	}
}
