package core_test

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

func pipelined(c *core.Config) { c.Pipeline = true }

// TestPipelineOrderingRules walks one write through a pipelined cluster
// whose append stages the test runs by hand, and checks HandleReady's
// rules: the leader replicates before its own sync; a follower
// acknowledges only after its sync; nothing is answered before the entry
// is committed and durable on the replica that answers.
func TestPipelineOrderingRules(t *testing.T) {
	c := newTestCluster(t, 3, pipelined)
	lead := c.leader()
	var followers []uint64
	for _, id := range c.ids {
		if id != lead {
			followers = append(followers, id)
		}
	}
	for _, id := range c.ids {
		c.holdAppends[id] = true
	}
	c.sent = map[raftpb.MessageType]int{}
	before := c.nodes[lead].Status().Commit
	var answer *core.Result
	c.nodes[lead].Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}},
		func(r core.Result) { answer = &r })
	c.stabilize()

	// 1. The leader's appends left while its own job is still out.
	if c.held[lead] == nil || c.held[lead].Entries != 1 {
		t.Fatalf("leader's append job = %+v, want one entry held", c.held[lead])
	}
	if c.sent[raftpb.MsgApp] < 2 {
		t.Fatalf("leader sent %d MsgApp before its sync, want one per follower", c.sent[raftpb.MsgApp])
	}
	// 2. The followers hold their acknowledgements until their jobs are done.
	if n := c.sent[raftpb.MsgAppResp]; n != 0 {
		t.Fatalf("%d MsgAppResp left before any follower synced", n)
	}
	for _, id := range followers {
		if c.held[id] == nil {
			t.Fatalf("follower %d has no append job out", id)
		}
	}
	if answer != nil {
		t.Fatalf("answered before anything was durable: %+v", answer)
	}
	// One follower syncs: its ack leaves, and with the leader's own copy
	// still unsynced the entry is not committed.
	f := followers[0]
	if err := c.finishAppend(f, c.held[f]); err != nil {
		t.Fatal(err)
	}
	delete(c.held, f)
	c.stabilize()
	if c.sent[raftpb.MsgAppResp] == 0 {
		t.Fatal("no MsgAppResp after the follower's sync")
	}
	if commit := c.nodes[lead].Status().Commit; commit != before || answer != nil {
		t.Fatalf("one durable copy of three: commit %d (was %d), answer %+v", commit, before, answer)
	}
	// 3. The second follower syncs: a quorum holds the entry, so it is
	// committed, but the leader applies (and answers) only entries durable
	// on its own disk.
	f2 := followers[1]
	if err := c.finishAppend(f2, c.held[f2]); err != nil {
		t.Fatal(err)
	}
	delete(c.held, f2)
	c.stabilize()
	lj := c.held[lead]
	last := c.nodes[lead].Status()
	if last.Commit != before+1 {
		t.Fatalf("two followers synced: commit %d, want %d", last.Commit, before+1)
	}
	if answer != nil || last.Applied != before {
		t.Fatalf("leader applied (%d) or answered (%+v) before its own sync", last.Applied, answer)
	}
	if err := c.finishAppend(lead, lj); err != nil {
		t.Fatal(err)
	}
	delete(c.held, lead)
	for _, id := range c.ids {
		c.holdAppends[id] = false
	}
	c.stabilize()
	if answer == nil || answer.Err != nil {
		t.Fatalf("no answer after every copy synced: %+v", answer)
	}
	if rev := answer.Resp.(*pb.PutResponse).GetHeader().GetRevision(); rev != 2 {
		t.Fatalf("put answered revision %d, want 2", rev)
	}
	c.hashesAgree()
}

// TestReadOnlyTxnIsAReadIndexRead: a read-only txn on a follower sees a
// write committed before it (ReadIndex, not local state), leaves the log
// alone, and a txn that may write is refused.
func TestReadOnlyTxnIsAReadIndexRead(t *testing.T) {
	c := newTestCluster(t, 3, pipelined)
	lead := c.leader()
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	if _, err := c.put(lead, "x", "1"); err != nil {
		t.Fatal(err)
	}
	commit := c.nodes[lead].Status().Commit
	get := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("x")}}}
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("x"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Value{Value: []byte("1")}}},
		Success: []*pb.RequestOp{get},
	}
	c.sent = map[raftpb.MessageType]int{}
	var got *core.Result
	c.nodes[follower].ReadTxn(txn, func(r core.Result) { got = &r })
	c.stabilize()
	if got == nil || got.Err != nil {
		t.Fatalf("read-only txn: %+v", got)
	}
	resp := got.Resp.(*pb.TxnResponse)
	if !resp.Succeeded || resp.GetHeader().GetRevision() != 2 || len(resp.Responses[0].GetResponseRange().Kvs) != 1 {
		t.Fatalf("read-only txn answered %v", resp)
	}
	if c.sent[raftpb.MsgReadIndex] != 1 {
		t.Fatalf("read-only txn took %d ReadIndex rounds, want 1", c.sent[raftpb.MsgReadIndex])
	}
	if now := c.nodes[lead].Status().Commit; now != commit {
		t.Fatalf("read-only txn moved the commit index from %d to %d", commit, now)
	}
	put := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("y")}}}
	c.nodes[follower].ReadTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{put}}, func(r core.Result) { got = &r })
	if got.Err != core.ErrNotReadOnly {
		t.Fatalf("txn with a put: %v, want ErrNotReadOnly", got.Err)
	}
}

// TestAppendJobWritesItsRoundsOnce: the rounds a job groups reach the WAL
// in one write (a write per round was a system call per proposal under
// load), and a restart recovers every entry of them.
func TestAppendJobWritesItsRoundsOnce(t *testing.T) {
	c := newTestCluster(t, 1, pipelined)
	lead := c.leader()
	c.holdAppends[lead] = true
	var answers []*core.Result
	for i := range 4 {
		// Each put is its own Ready round; the first takes the job out, the
		// other three wait for it and join the next one.
		c.nodes[lead].Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte{'k', byte('0' + i)}, Value: []byte("v")}},
			func(r core.Result) { answers = append(answers, &r) })
		c.stabilize()
	}
	first := c.held[lead]
	if first == nil || first.Entries != 1 {
		t.Fatalf("first job = %+v, want the first put alone", first)
	}
	if err := c.finishAppend(lead, first); err != nil {
		t.Fatal(err)
	}
	delete(c.held, lead)
	c.stabilize()
	grouped := c.held[lead]
	if grouped == nil || grouped.Entries != 3 {
		t.Fatalf("second job = %+v, want the three puts proposed while the first was out", grouped)
	}
	writes := c.disks[lead].WriteCount()
	if err := c.finishAppend(lead, grouped); err != nil {
		t.Fatal(err)
	}
	if n := c.disks[lead].WriteCount() - writes; n != 1 {
		t.Fatalf("a job of three rounds made %d WAL writes, want 1", n)
	}
	delete(c.held, lead)
	c.holdAppends[lead] = false
	c.stabilize()
	if len(answers) != 4 {
		t.Fatalf("%d of 4 puts answered", len(answers))
	}
	c.crash(lead)
	c.start(lead)
	c.leader()
	for i := range 4 {
		if resp, ok := c.get(lead, string([]byte{'k', byte('0' + i)}), true); !ok || len(resp.Kvs) != 1 {
			t.Fatalf("after a restart k%d = %v, %v", i, resp, ok)
		}
	}
}
