package core_test

import (
	"bytes"
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
)

// TestProposalsKeptForApplyAreReleased: a leader applies its own proposals
// from the request it kept (no decode), a follower's forwarded ones come
// back decoded, and a lost one is dropped by Forget; in every case the
// replica keeps nothing afterwards, and all replicas end in the same state.
func TestProposalsKeptForApplyAreReleased(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	waitingNone := func(when string) {
		t.Helper()
		for _, id := range c.ids {
			if n, m := c.nodes[id].Waiting(); n != 0 || m != 0 {
				t.Fatalf("%s: replica %d keeps %d callbacks and %d requests", when, id, n, m)
			}
		}
	}
	txn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
		RequestPut: &pb.PutRequest{Key: []byte("t"), Value: []byte("1"), PrevKv: true}}}}}
	for i, at := range []uint64{lead, follower, lead, follower} {
		if _, err := c.put(at, "k", string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		var got *core.Result
		c.nodes[at].Propose(&pb.InternalRaftRequest{Txn: txn}, func(r core.Result) { got = &r })
		c.stabilize()
		if got == nil || got.Err != nil || !got.Resp.(*pb.TxnResponse).Succeeded {
			t.Fatalf("txn on %d: %+v", at, got)
		}
		waitingNone("after an answered write")
	}
	c.hashesAgree()

	// A proposal on a leader cut off from the others is never committed;
	// the caller gives up and forgets it.
	c.cut[lead] = true
	req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("lost"), Value: []byte("v")}}
	answered := false
	c.nodes[lead].Propose(req, func(core.Result) { answered = true })
	c.stabilize()
	if n, m := c.nodes[lead].Waiting(); answered || n != 1 || m != 1 {
		t.Fatalf("cut leader: answered %v, keeps %d callbacks and %d requests; want one of each waiting", answered, n, m)
	}
	c.nodes[lead].Forget(req.GetHeader().GetID())
	waitingNone("after Forget")
}

// TestRequestIDReadsTheEncodedHeader: apply finds a proposal's waiting
// request by the ID read from the entry without decoding it; the reader
// must agree with the full decoder wherever the header sits.
func TestRequestIDReadsTheEncodedHeader(t *testing.T) {
	put := &pb.PutRequest{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 300), Lease: 7}
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want uint64
	}{
		{"put", &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1<<63 + 5, Username: "u", AuthRevision: 3}, Put: put}, 1<<63 + 5},
		{"ID after the user", &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "root", ID: 42}, Txn: &pb.TxnRequest{}}, 42},
		{"no ID", &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "u"}, Put: put}, 0},
		{"no header", &pb.InternalRaftRequest{Put: put}, 0},
	} {
		data, err := proto.Marshal(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := core.RequestID(data); got != tc.want {
			t.Errorf("%s: read ID %d, want %d", tc.name, got, tc.want)
		}
		// Cut anywhere, the bytes are not a request: never a wrong ID.
		for cut := range len(data) {
			if got := core.RequestID(data[:cut]); got != 0 && got != tc.want {
				t.Fatalf("%s cut at %d: read ID %d", tc.name, cut, got)
			}
		}
	}
}

// TestProposalsOfOneRoundGoOutTogether: proposals made before raft is next
// used travel as one MsgProp, in order, and each is answered as if proposed
// alone; a batch raft drops (no leader) answers every one of its callers.
func TestProposalsOfOneRoundGoOutTogether(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	c.sent = map[raftpb.MessageType]int{}
	var revs []int64
	for i := range 5 {
		req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte{byte('a' + i)}}}
		c.nodes[follower].Propose(req, func(r core.Result) {
			if r.Err != nil {
				t.Errorf("put %d: %v", i, r.Err)
				return
			}
			revs = append(revs, r.Resp.(*pb.PutResponse).GetHeader().GetRevision())
		})
	}
	c.stabilize()
	if n := c.sent[raftpb.MsgProp]; n != 1 {
		t.Fatalf("5 proposals of one round went to the leader in %d messages, want 1", n)
	}
	if len(revs) != 5 {
		t.Fatalf("%d of 5 proposals answered", len(revs))
	}
	for i := 1; i < len(revs); i++ {
		if revs[i] != revs[i-1]+1 {
			t.Fatalf("revisions %v: not applied one after another in proposal order", revs)
		}
	}
	if resp, _ := c.get(lead, "k", true); len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "e" {
		t.Fatalf("k = %v after the batch, want the last proposal's e", resp.Kvs)
	}
	c.hashesAgree()

	// A follower that knows no leader drops the whole batch at once.
	lone := newTestCluster(t, 3, nil)
	var errs []error
	for range 3 {
		lone.nodes[1].Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("x"), Value: []byte("v")}},
			func(r core.Result) { errs = append(errs, r.Err) })
	}
	lone.nodes[1].HasReady() // raft is used: the batch goes in
	if len(errs) != 3 {
		t.Fatalf("%d of 3 dropped proposals answered", len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, core.ErrDropped) {
			t.Fatalf("dropped proposal answered %v, want ErrDropped", err)
		}
	}
	if n, m := lone.nodes[1].Waiting(); n != 0 || m != 0 {
		t.Fatalf("after the drop the replica keeps %d callbacks and %d requests", n, m)
	}
}
