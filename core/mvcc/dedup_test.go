package mvcc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
	"metastore/engines/memory"
)

// plainBatchEngine is a memory engine whose batch hides SetOwnedPair
// (plainBatch, noread_test.go), so the store takes the path every other
// engine takes (copying Set).
type plainBatchEngine struct{ *memory.Engine }

func (e plainBatchEngine) NewBatch() engine.Batch { return plainBatch{e.Engine.NewBatch()} }

func (e plainBatchEngine) Write(b engine.Batch) error { return e.Engine.Write(b.(plainBatch).Batch) }

// TestDedupWindowModel applies requests whose IDs come in interleaved
// ascending runs (as proposers hand them out), some crossing a 64-ID block
// or wrapping past the top of the ID space, mixed with random IDs and
// re-proposals of recent and of forgotten IDs, and checks every answer
// against a plain model of the window. The engine's dedup records must be
// the window exactly, a reopened store must remember the same IDs, and a
// store whose engine copies every record must reach the same state.
func TestDedupWindowModel(t *testing.T) {
	const window = 150
	rng := rand.New(rand.NewPCG(7, 11))
	owned := newStore(t)
	plainEng := plainBatchEngine{memory.New()}
	plain, err := Open(plainEng)
	if err != nil {
		t.Fatal(err)
	}
	owned.dedup.max, plain.dedup.max = window, window

	next := []uint64{60, 1<<63 - 3, ^uint64(0) - 40}
	var order []uint64                        // model: applied IDs, oldest first
	inWindow := func(id uint64) (int, bool) { // position in the window
		lo := max(0, len(order)-window)
		i := slices.Index(order[lo:], id)
		return lo + i, i >= 0
	}
	var index uint64
	var seen []uint64
	for range 2000 {
		var id uint64
		switch r := rng.IntN(20); {
		case r == 0:
			id = rng.Uint64() | 1
		case r == 1 && len(seen) > 0:
			id = seen[rng.IntN(len(seen))] // recent or long forgotten
		default:
			p := rng.IntN(len(next))
			if next[p] == 0 {
				next[p]++ // newID never hands out 0
			}
			id = next[p]
			next[p]++
		}
		_, want := inWindow(id)
		index++
		req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: id}, Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}}
		for _, s := range []*Store{owned, plain} {
			if res := s.Apply(index, req); res.Duplicate != want || res.Err != nil {
				t.Fatalf("apply %d of id %#x: duplicate %v, want %v (err %v)", index, id, res.Duplicate, want, res.Err)
			}
		}
		if !want {
			order = append(order, id)
			seen = append(seen, id)
		}
	}
	if owned.Hash() != plain.Hash() {
		t.Fatal("the store over owned batches and the one over copying batches hash differently")
	}

	// The engine holds the window's records, each at the index it was
	// applied at, and the applied index of the last entry.
	for _, s := range []*Store{owned, plain} {
		got := map[uint64]uint64{}
		it := s.eng.NewIter(prefixDedup, prefixEnd(prefixDedup))
		for ok := it.First(); ok; ok = it.Next() {
			got[binary.BigEndian.Uint64(it.Key()[2:])] = binary.BigEndian.Uint64(it.Value())
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if len(got) != window {
			t.Fatalf("%d dedup records, want %d", len(got), window)
		}
		for _, id := range order[len(order)-window:] {
			if _, ok := got[id]; !ok {
				t.Fatalf("id %#x of the window has no record", id)
			}
		}
		if v, ok, err := s.eng.Get(keyApplied); err != nil || !ok || binary.BigEndian.Uint64(v) != index {
			t.Fatalf("engine applied index %x (%v, %v), want %d", v, ok, err, index)
		}
		reopened, err := Open(s.eng)
		if err != nil {
			t.Fatal(err)
		}
		if reopened.AppliedIndex() != index || reopened.dedup.len() != window {
			t.Fatalf("reopened: applied %d, %d IDs; want %d, %d", reopened.AppliedIndex(), reopened.dedup.len(), index, window)
		}
		for _, id := range seen {
			_, want := inWindow(id)
			if reopened.dedup.has(id) != want || s.dedup.has(id) != want {
				t.Fatalf("id %#x: reopened has %v, live has %v, want %v", id, reopened.dedup.has(id), s.dedup.has(id), want)
			}
		}
	}
}

// TestIDSetBlocks checks the bitmap set at block edges: members of one
// block are independent, and a block's entry goes when it empties.
func TestIDSetBlocks(t *testing.T) {
	s := idSet{words: map[uint64]uint64{}}
	ids := []uint64{0, 63, 64, 127, 1<<64 - 1, 1<<64 - 64}
	for _, id := range ids {
		s.add(id)
	}
	for _, id := range ids {
		if !s.has(id) {
			t.Fatalf("%#x missing", id)
		}
	}
	for _, id := range []uint64{1, 62, 65, 128, 1<<64 - 2, 1<<64 - 65} {
		if s.has(id) {
			t.Fatalf("%#x present", id)
		}
	}
	if len(s.words) != 3 { // [0, 64), [64, 128), the top block
		t.Fatalf("%d blocks, want 3", len(s.words))
	}
	s.remove(63)
	if s.has(63) || !s.has(0) || len(s.words) != 3 {
		t.Fatal("removing 63 disturbed its block")
	}
	s.remove(0)
	if s.has(0) || len(s.words) != 2 {
		t.Fatalf("emptied block kept: %d blocks", len(s.words))
	}
}

// TestApplyGroup: inside an apply group a memory engine's applied-index
// record waits for EndApplyGroup, which writes it once; a durable engine's
// batches keep carrying it entry by entry. A snapshot inside a group is
// refused, and the state after the group is the state without one.
func TestApplyGroup(t *testing.T) {
	engineApplied := func(s *Store) uint64 {
		v, ok, err := s.eng.Get(keyApplied)
		if err != nil || !ok {
			t.Fatalf("no applied index in the engine: %v", err)
		}
		return binary.BigEndian.Uint64(v)
	}
	put := func(s *Store, index uint64) {
		req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1000 + index}, Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}}
		if r := s.Apply(index, req); r.Err != nil || r.Duplicate {
			t.Fatalf("apply %d: %v", index, r.Err)
		}
	}
	grouped, plain := newStore(t), newStore(t)
	for i := uint64(1); i <= 3; i++ {
		put(grouped, i)
		put(plain, i)
	}
	grouped.BeginApplyGroup()
	if !grouped.InApplyGroup() {
		t.Fatal("a memory engine's store is not grouping")
	}
	for i := uint64(4); i <= 9; i++ {
		put(grouped, i)
		put(plain, i)
	}
	if got := engineApplied(grouped); got != 3 || grouped.AppliedIndex() != 9 {
		t.Fatalf("inside the group: engine applied %d, store %d; want 3, 9", got, grouped.AppliedIndex())
	}
	if _, err := grouped.Snapshot(); err == nil {
		t.Fatal("snapshot inside an apply group")
	}
	if err := grouped.ApplyNoop(10); err != nil || engineApplied(grouped) != 10 {
		t.Fatalf("ApplyNoop inside a group: %v, engine applied %d", err, engineApplied(grouped))
	}
	put(grouped, 11)
	if err := grouped.EndApplyGroup(); err != nil {
		t.Fatal(err)
	}
	if err := plain.ApplyNoop(10); err != nil {
		t.Fatal(err)
	}
	put(plain, 11)
	if grouped.InApplyGroup() || engineApplied(grouped) != 11 || grouped.Hash() != plain.Hash() {
		t.Fatalf("after the group: engine applied %d, hash equal %v", engineApplied(grouped), grouped.Hash() == plain.Hash())
	}
	a, errA := grouped.Snapshot()
	b, errB := plain.Snapshot()
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("snapshots after the group differ (%v, %v)", errA, errB)
	}

	// An empty group writes nothing.
	writes := &countingEngine{Engine: memory.New()}
	s, err := Open(writes)
	if err != nil {
		t.Fatal(err)
	}
	s.BeginApplyGroup()
	if err := s.EndApplyGroup(); err != nil || writes.writes != 0 {
		t.Fatalf("empty group: %v, %d writes", err, writes.writes)
	}

	// A durable engine records the applied index with every entry.
	durable, err := Open(durableMemory{memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	durable.BeginApplyGroup()
	if durable.InApplyGroup() {
		t.Fatal("a durable engine's store is grouping")
	}
	put(durable, 1)
	if engineApplied(durable) != 1 {
		t.Fatal("a durable engine's applied index waited for the group's end")
	}
	if err := durable.EndApplyGroup(); err != nil {
		t.Fatal(err)
	}
}

// durableMemory is a memory engine that says it is durable.
type durableMemory struct{ *memory.Engine }

func (durableMemory) Durable() bool { return true }
