package mvcc

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/core/engine"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
)

// getCountingEngine counts Gets. Its batches hide the memory engine's
// SetOwnedPair, so the key index caches no record and every read of a
// stored version is a Get, as on RocksDB.
type getCountingEngine struct {
	engine.Engine
	gets int
}

type plainBatch struct{ engine.Batch }

func (e *getCountingEngine) Get(key []byte) ([]byte, bool, error) {
	e.gets++
	return e.Engine.Get(key)
}

func (e *getCountingEngine) NewBatch() engine.Batch { return plainBatch{e.Engine.NewBatch()} }

func (e *getCountingEngine) Write(b engine.Batch) error {
	if pb, ok := b.(plainBatch); ok {
		b = pb.Batch
	}
	return e.Engine.Write(b)
}

// A put learns the create revision, version and lease of the version it
// replaces from memory, also after compaction trimmed the key's history and
// after a reload; it reads the engine only when the request needs the old
// version itself, and a PUT event's PrevKv is read only when asked for.
func TestPutReadsNothing(t *testing.T) {
	for _, name := range []string{"memory", "rocksdb"} {
		t.Run(name, func(t *testing.T) {
			var inner engine.Engine = memory.New()
			if name == "rocksdb" {
				e, err := rocksdb.Open(t.TempDir(), rocksTestOptions)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				inner = e
			}
			eng := &getCountingEngine{Engine: inner}
			s, err := Open(eng)
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, s: s}
			lease := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 60}})
			if lease.Err != nil {
				t.Fatal(lease.Err)
			}
			key := func(i int) []byte { return fmt.Appendf(nil, "k%d", i) }
			put := func(p *pb.PutRequest) Result {
				t.Helper()
				r := h.apply(&pb.InternalRaftRequest{Put: p})
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				return r
			}
			for round := range 3 {
				for i := range 10 {
					put(&pb.PutRequest{Key: key(i), Value: []byte("v"), Lease: int64(7 * (i % 2))})
				}
				if round == 1 {
					if r := h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: s.Rev()}}); r.Err != nil {
						t.Fatal(r.Err)
					}
				}
			}
			// Reload: the ghosts of the trimmed histories come back from
			// the records.
			if s, err = Open(eng); err != nil {
				t.Fatal(err)
			}
			h.s = s

			eng.gets = 0
			for i := range 10 {
				r := put(&pb.PutRequest{Key: key(i), Value: []byte("w"), Lease: 7})
				if kv := r.Events[0].Kv; kv.Version != 4 || kv.CreateRevision != int64(2+i) {
					t.Fatalf("put %d: %v, want version 4 created at %d", i, kv, 2+i)
				}
			}
			txn := &pb.TxnRequest{}
			for i := range 10 {
				txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
					RequestPut: &pb.PutRequest{Key: key(i), Value: []byte("x")}}})
			}
			if r := h.apply(&pb.InternalRaftRequest{Txn: txn}); r.Err != nil || r.Events[9].Kv.Version != 5 {
				t.Fatalf("txn: %v, events %v", r.Err, r.Events)
			}
			if eng.gets != 0 {
				t.Fatalf("plain puts made %d engine Gets, want 0", eng.gets)
			}
			if lease, ok := s.Lease(7); !ok || len(lease.Keys) != 0 {
				t.Fatalf("lease 7 after the txn moved every key off it: %v", lease)
			}

			r := put(&pb.PutRequest{Key: key(0), Value: []byte("y"), PrevKv: true})
			if prev := r.Resp.(*pb.PutResponse).PrevKv; prev == nil || string(prev.Value) != "x" {
				t.Fatalf("prev_kv = %v", prev)
			}
			if eng.gets == 0 {
				t.Fatal("a prev_kv put read nothing")
			}
			eng.gets = 0
			r = put(&pb.PutRequest{Key: key(1), Value: []byte("z")})
			if eng.gets != 0 || r.Events[0].PrevKv != nil {
				t.Fatalf("plain put: %d Gets, event %v", eng.gets, r.Events[0])
			}
			prev := s.EventPrevKV(r.Events[0])
			if prev == nil || string(prev.Value) != "x" || prev.Version != 5 || eng.gets == 0 {
				t.Fatalf("EventPrevKV = %v after %d Gets", prev, eng.gets)
			}
			eng.gets = 0
			r = put(&pb.PutRequest{Key: key(2), IgnoreValue: true})
			if eng.gets == 0 || string(r.Events[0].Kv.Value) != "x" {
				t.Fatalf("ignore_value put: %d Gets, event %v", eng.gets, r.Events[0])
			}
			// A put creating a key replaced nothing.
			r = put(&pb.PutRequest{Key: []byte("new"), Value: []byte("v")})
			if p := s.EventPrevKV(r.Events[0]); p != nil {
				t.Fatalf("EventPrevKV of a creating put = %v", p)
			}
			// A delete reads the version it removes only for prev_kv,
			// or for a watcher asking.
			eng.gets = 0
			r = h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key(3)}})
			if ev := r.Events[0]; ev.Type != mvccpb.DELETE || ev.PrevKv != nil || eng.gets != 0 {
				t.Fatalf("delete: %d Gets, event %v", eng.gets, ev)
			}
			if prev := s.EventPrevKV(r.Events[0]); prev == nil || string(prev.Value) != "x" || eng.gets == 0 {
				t.Fatalf("EventPrevKV of the delete = %v after %d Gets", prev, eng.gets)
			}
			r = h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key(4), PrevKv: true}})
			if prevs := r.Resp.(*pb.DeleteRangeResponse).PrevKvs; len(prevs) != 1 || string(prevs[0].Value) != "x" {
				t.Fatalf("prev_kv delete: %v", prevs)
			}
			// Revoking a lease deletes its keys without reading them.
			put(&pb.PutRequest{Key: key(5), Value: []byte("v"), Lease: 7})
			eng.gets = 0
			r = h.apply(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}})
			if r.Err != nil || len(r.Events) != 1 || eng.gets != 0 {
				t.Fatalf("revoke: %v, events %v, %d Gets", r.Err, r.Events, eng.gets)
			}
		})
	}
}
