package core_test

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

// TestCoalescedRoundsReplicate drives real raft through the two merges
// coalesce makes: a leader Ready that holds two appends per follower (two
// proposal batches flushed between Readys), and a follower append job
// whose op answers two appends. Each leaves as one message per peer, and
// every write is still committed, answered and applied everywhere.
func TestCoalescedRoundsReplicate(t *testing.T) {
	c := newTestCluster(t, 3, pipelined)
	lead := c.leader()
	r := c.nodes[lead]
	answered := 0
	propose := func(i int) {
		r.Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("v")}},
			func(res core.Result) {
				if res.Err != nil {
					t.Errorf("write %d: %v", i, res.Err)
				}
				answered++
			})
	}

	// Two batches go into raft before one Ready: one MsgApp per follower.
	c.sent = map[raftpb.MessageType]int{}
	propose(0)
	r.HasReady() // hands the first batch to raft
	propose(1)
	if err := r.HandleReady(); err != nil {
		t.Fatal(err)
	}
	if n := c.sent[raftpb.MsgApp]; n != 2 {
		t.Fatalf("the leader's Ready sent %d MsgApps to 2 followers, want one each", n)
	}
	for _, m := range c.inbox {
		if m.GetType() == raftpb.MsgApp && len(m.GetEntries()) != 2 {
			t.Fatalf("MsgApp to %d carries %d entries, want both batches' 2", m.GetTo(), len(m.GetEntries()))
		}
	}
	c.stabilize()

	// Two Readys' appends reach the followers together: each answers both
	// with one acknowledgement.
	c.sent = map[raftpb.MessageType]int{}
	for i := 2; i < 4; i++ {
		propose(i)
		for r.HasReady() {
			if err := r.HandleReady(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := c.sent[raftpb.MsgApp]; n != 4 {
		t.Fatalf("two Readys sent %d MsgApps, want two per follower", n)
	}
	msgs := c.inbox
	c.inbox = nil
	last := uint64(0)
	for _, m := range msgs {
		if es := m.GetEntries(); len(es) > 0 {
			last = max(last, es[len(es)-1].GetIndex())
		}
		if err := c.nodes[m.GetTo()].Step(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.ids {
		if id == lead {
			continue
		}
		for c.nodes[id].HasReady() {
			if err := c.nodes[id].HandleReady(); err != nil {
				t.Fatal(err)
			}
		}
		c.runStages(id)
	}
	if n := c.sent[raftpb.MsgAppResp]; n != 2 {
		t.Fatalf("followers sent %d MsgAppResps for two appends each, want one each", n)
	}
	for _, m := range c.inbox {
		if m.GetType() == raftpb.MsgAppResp && m.GetIndex() != last {
			t.Fatalf("follower %d acknowledged up to %d, want the last index sent %d", m.GetFrom(), m.GetIndex(), last)
		}
	}
	c.stabilize()
	if answered != 4 {
		t.Fatalf("%d of 4 writes answered", answered)
	}
	for _, id := range c.ids {
		for i := range 4 {
			if resp, ok := c.get(id, fmt.Sprintf("k%d", i), true); !ok || len(resp.GetKvs()) != 1 {
				t.Fatalf("replica %d lacks k%d: %v", id, i, resp)
			}
		}
	}
	c.hashesAgree()
}
