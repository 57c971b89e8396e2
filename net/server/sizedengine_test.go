package server

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
	"metastore/core/mvcc"
	"metastore/engines/memory"
)

// uncountedEngine hides the memory engine's LiveBytes, so SizedEngine
// keeps the count itself.
type uncountedEngine struct{ engine.Engine }

// A sized memory engine passes SetOwnedPair through (so the store keeps one
// copy of each record) and counts those pairs like Set's, whether the
// engine counts its bytes (the memory engine) or the wrapper does.
func TestSizedEngineOwnedPairs(t *testing.T) {
	for _, tc := range []struct {
		name string
		eng  engine.Engine
	}{{"engine counts", memory.New()}, {"wrapper counts", uncountedEngine{memory.New()}}} {
		t.Run(tc.name, func(t *testing.T) { testSizedOwnedPairs(t, tc.eng) })
	}
}

func testSizedOwnedPairs(t *testing.T, inner engine.Engine) {
	e := NewSizedEngine(inner)
	if _, counts := inner.(liveByteCounter); (e.counter != nil) != counts {
		t.Fatalf("counter = %v for %T", e.counter, inner)
	}
	b := e.NewBatch()
	o, ok := b.(ownedPairSetter)
	if !ok {
		t.Fatal("a sized memory engine's batch has no SetOwnedPair")
	}
	o.SetOwnedPair([]byte("key1value"), 4) // 9 bytes
	b.Set([]byte("k2"), []byte("v2"))      // 4 bytes
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if got := e.Size(); got != 13 {
		t.Fatalf("Size = %d after 13 bytes written", got)
	}
	if v, ok, err := e.Get([]byte("key1")); err != nil || !ok || string(v) != "value" {
		t.Fatalf("Get(key1) = %q %v %v", v, ok, err)
	}
	b.Reset()
	o.SetOwnedPair([]byte("key1v"), 4) // overwrite: 9 -> 5 bytes
	b.Delete([]byte("k2"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if got := e.Size(); got != 5 {
		t.Fatalf("Size = %d, want 5 after an overwrite and a delete", got)
	}
}

// getCounter counts Gets and hides the memory engine's LiveBytes and
// SetOwnedPair, so a SizedEngine over it keeps the count itself, as over
// any engine without LiveBytes (RocksDB has it: the wrapper defers).
type getCounter struct {
	engine.Engine
	gets int
}

type plainBatch struct{ engine.Batch }

func (e *getCounter) Get(key []byte) ([]byte, bool, error) {
	e.gets++
	return e.Engine.Get(key)
}

func (e *getCounter) NewBatch() engine.Batch { return plainBatch{e.Engine.NewBatch()} }

func (e *getCounter) Write(b engine.Batch) error { return e.Engine.Write(b.(plainBatch).Batch) }

// The store tells the sized batch what its revision and dedup records
// replace, so a put costs the wrapper one Get (the applied index), not one
// per written key; the count stays exact through overwrites, deletes,
// dedup pruning and compaction.
func TestSizedEngineKnownSizes(t *testing.T) {
	inner := &getCounter{Engine: memory.New()}
	e := NewSizedEngine(inner)
	if e.counter != nil {
		t.Fatal("the wrapper does not count")
	}
	s, err := mvcc.Open(e)
	if err != nil {
		t.Fatal(err)
	}
	inner.gets = 0
	var index uint64
	apply := func(req *pb.InternalRaftRequest) {
		t.Helper()
		index++
		req.Header = &pb.RequestHeader{ID: index}
		if res := s.Apply(index, req); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	const puts = 100_100 // past the dedup window: its oldest records go
	for i := range puts {
		apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "k%d", i%1000), Value: make([]byte, i%50)}})
	}
	if inner.gets > puts {
		t.Fatalf("%d puts made %d engine Gets, want at most one each", puts, inner.gets)
	}
	apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k1"), RangeEnd: []byte("k2")}})
	apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: s.Rev()}})
	if got, want := e.Size(), NewSizedEngine(inner).Size(); got != want {
		t.Fatalf("Size = %d, a recount gives %d", got, want)
	}
}
