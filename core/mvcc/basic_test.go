package mvcc

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/engines/memory"
)

// newStore opens a store on a fresh memory engine.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// harness applies requests at increasing raft indexes.
type harness struct {
	t     testing.TB
	s     *Store
	index uint64
}

func newHarness(t testing.TB) *harness { return &harness{t: t, s: newStore(t)} }

func (h *harness) apply(req *pb.InternalRaftRequest) Result {
	h.index++
	return h.s.Apply(h.index, req)
}

func (h *harness) put(k, v string) *pb.PutResponse {
	h.t.Helper()
	r := h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}})
	if r.Err != nil {
		h.t.Fatalf("put %q: %v", k, r.Err)
	}
	return r.Resp.(*pb.PutResponse)
}

func (h *harness) get(k string, rev int64) *pb.RangeResponse {
	h.t.Helper()
	resp, err := h.s.Range(&pb.RangeRequest{Key: []byte(k), Revision: rev})
	if err != nil {
		h.t.Fatalf("get %q@%d: %v", k, rev, err)
	}
	return resp
}

func TestPutRangeDelete(t *testing.T) {
	h := newHarness(t)
	if got := h.s.Rev(); got != 1 {
		t.Fatalf("fresh Rev = %d, want 1", got)
	}
	if r := h.put("a", "1"); r.Header.Revision != 2 {
		t.Fatalf("first put revision = %d, want 2", r.Header.Revision)
	}
	h.put("a", "2")
	h.put("b", "x")
	kv := h.get("a", 0).Kvs[0]
	if string(kv.Value) != "2" || kv.CreateRevision != 2 || kv.ModRevision != 3 || kv.Version != 2 {
		t.Fatalf("a = %v", kv)
	}
	if old := h.get("a", 2).Kvs[0]; string(old.Value) != "1" {
		t.Fatalf("a@2 = %v", old)
	}
	r := h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), PrevKv: true}})
	dr := r.Resp.(*pb.DeleteRangeResponse)
	if dr.Deleted != 2 || dr.Header.Revision != 5 || len(dr.PrevKvs) != 2 || len(r.Events) != 2 {
		t.Fatalf("delete = %v events %v", dr, r.Events)
	}
	if n := len(h.get("a", 0).Kvs); n != 0 {
		t.Fatalf("a still has %d kvs", n)
	}
	r = h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}})
	if dr := r.Resp.(*pb.DeleteRangeResponse); dr.Deleted != 0 || dr.Header.Revision != 5 || h.s.Rev() != 5 {
		t.Fatalf("empty delete = %v rev %d", dr, h.s.Rev())
	}
	if kv := h.put("a", "3"); kv.Header.Revision != 6 {
		t.Fatalf("recreate revision %d", kv.Header.Revision)
	}
	kv = h.get("a", 0).Kvs[0]
	if kv.CreateRevision != 6 || kv.Version != 1 {
		t.Fatalf("recreated a = %v", kv)
	}
	// Reopen from the same engine: same answers.
	s2, err := Open(h.s.eng)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Rev() != 6 || s2.AppliedIndex() != h.index || s2.Hash() != h.s.Hash() {
		t.Fatalf("reopened rev %d applied %d", s2.Rev(), s2.AppliedIndex())
	}
}
