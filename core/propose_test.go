package core_test

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
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
