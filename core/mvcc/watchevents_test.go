package mvcc

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// WatchEvents accepts the compact revision itself, as etcd's watch does,
// and yields the puts compaction kept there; its deletions are gone.
func TestWatchEventsFromCompactRevision(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // rev 2
	h.put("b", "1") // rev 3
	r := h.apply(&pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("2")}}},
		{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}}},
	}}}) // rev 4
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	h.put("a", "3") // rev 5
	if r := h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 4}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := h.s.WatchEvents(3, []byte("a"), []byte{0}, false); err != ErrCompacted {
		t.Fatalf("below the compact revision: err %v, want ErrCompacted", err)
	}
	if _, err := h.s.Events(4, []byte("a"), []byte{0}, false); err != ErrCompacted {
		t.Fatalf("Events at the compact revision: err %v, want ErrCompacted", err)
	}
	evs, err := h.s.WatchEvents(4, []byte("a"), []byte{0}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want the put of a at 4 and at 5: %v", len(evs), evs)
	}
	for i, want := range []int64{4, 5} {
		if evs[i].Type != mvccpb.PUT || string(evs[i].Kv.Key) != "a" || evs[i].Kv.ModRevision != want {
			t.Fatalf("event %d = %v, want PUT a at %d", i, evs[i], want)
		}
	}
	if evs[0].PrevKv != nil {
		t.Fatalf("the version before the compact revision is gone, yet prev_kv = %v", evs[0].PrevKv)
	}
	if evs[1].PrevKv == nil || evs[1].PrevKv.ModRevision != 4 {
		t.Fatalf("prev_kv of the put at 5 = %v, want the version at 4", evs[1].PrevKv)
	}
}
