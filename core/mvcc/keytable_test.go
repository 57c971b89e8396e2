package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestKeyTableMatchesMap inserts and removes random keys from a small key
// space (so probe runs collide, wrap and shift back on removal, and the
// table grows and shrinks) and checks every key's lookup against a map.
func TestKeyTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	x := newIndex() // for its slab
	tab := newKeyTable(&x.keys)
	want := make(map[string]uint32)
	const space = 300
	for step := range 20_000 {
		k := []byte(fmt.Sprintf("k%d", rng.IntN(space)))
		if id := want[string(k)]; id != 0 {
			if rng.IntN(3) > 0 { // removals outnumber inserts for a while, then the reverse
				if got := tab.remove(k); got != id {
					t.Fatalf("step %d: remove(%s) = %d, want %d", step, k, got, id)
				}
				x.keys.release(id)
				delete(want, string(k))
			}
		} else if step%4000 < 3000 {
			id := x.keys.alloc()
			x.keys.at(id).setKey(k)
			tab.insert(id)
			want[string(k)] = id
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: table holds %d keys, want %d", step, tab.len(), len(want))
		}
		if 4*tab.len() > 3*len(tab.slots) {
			t.Fatalf("step %d: %d keys in %d slots", step, tab.len(), len(tab.slots))
		}
		if step%97 == 0 {
			for i := range space {
				k := []byte(fmt.Sprintf("k%d", i))
				if got := tab.get(k); got != want[string(k)] {
					t.Fatalf("step %d: get(%s) = %d, want %d", step, k, got, want[string(k)])
				}
			}
		}
	}
}

// A key index takes 48 bytes of slab per key, its single revision
// included: a field more costs every key of a large store.
func TestKeyIndexFits48Bytes(t *testing.T) {
	if n := unsafe.Sizeof(keyIndex{}); n != 48 {
		t.Errorf("keyIndex is %d bytes, want 48", n)
	}
}

// newKeyIndex returns an empty key index, outside any slab, holding a
// private copy of key.
func newKeyIndex(key []byte) *keyIndex {
	ki := &keyIndex{}
	ki.setKey(key)
	return ki
}

// Revisions grow in powers of two and compaction gives the room back.
func TestKeyIndexRevisionRoom(t *testing.T) {
	ki := newKeyIndex([]byte("k"))
	for i := range 9 {
		ki.put(revision{main: int64(i + 2)}, nil, 0)
	}
	if ki.nrev != 9 || ki.last().main != 10 || ki.key() != "k" {
		t.Fatalf("after 9 puts: %d revisions, last %v, key %q", ki.nrev, ki.last(), ki.key())
	}
	before := ki.revp
	var dropped []revision
	if ki.compact(9, func(r revision) { dropped = append(dropped, r) }) {
		t.Fatal("compaction emptied a live key")
	}
	// The creating put at 2 and 6 more are gone; a ghost keeps the
	// create revision and their count.
	if len(dropped) != 7 || ki.nrev != 3 || !ki.revs()[0].ghost() || ki.revs()[1].main != 9 || ki.last().main != 10 {
		t.Fatalf("compacted at 9: dropped %v, kept %v", dropped, ki.revs())
	}
	if c, v := ki.generation(); c != 2 || v != 9 {
		t.Errorf("after compaction: created %d version %d, want 2 and 9", c, v)
	}
	if ki.revp == before {
		t.Error("compaction kept 16 slots for 3 revisions")
	}
	ki.put(revision{main: 11}, nil, 0)
	if got := ki.revs(); len(got) != 4 || got[3].main != 11 || got[1].main != 9 {
		t.Errorf("after another put: %v", got)
	}
	if c, v := ki.generation(); c != 2 || v != 10 {
		t.Errorf("after another put: created %d version %d, want 2 and 10", c, v)
	}
	// A second compaction folds the ghost and the put at 9 into one ghost.
	ki.compact(10, func(revision) {})
	if got := ki.revs(); len(got) != 3 || !got[0].ghost() || got[0].main != 2 || got[1].main != 10 {
		t.Errorf("compacted at 10: %v", got)
	}
	if c, v := ki.generation(); c != 2 || v != 10 {
		t.Errorf("compacted at 10: created %d version %d, want 2 and 10", c, v)
	}
	// A new generation after a tombstone starts over.
	ki.tombstone(revision{main: 12})
	ki.put(revision{main: 13}, nil, 0)
	if c, v := ki.generation(); c != 13 || v != 1 {
		t.Errorf("recreated: created %d version %d, want 13 and 1", c, v)
	}
	if _, ok := ki.at(3); ok {
		t.Error("a ghost is visible to reads")
	}
	// A generation start too far in for meta's 24 bits is found by a scan.
	ki.put(revision{main: 14}, nil, 0)
	ki.setGen(1 << 30)
	if c, v := ki.generation(); c != 13 || v != 2 {
		t.Errorf("generation start unknown: created %d version %d, want 13 and 2", c, v)
	}
}

// A key's single revision lives in its key index, with no array of its
// own for the collector to mark; a second one moves both out, and a
// compaction down to one moves it back.
func TestKeyIndexSingleRevisionInline(t *testing.T) {
	ki := newKeyIndex([]byte("k"))
	ki.put(revision{main: 2}, nil, 0)
	if ki.revp != nil || len(ki.revs()) != 1 || ki.last().main != 2 {
		t.Fatalf("one put: revp %p, revisions %v", ki.revp, ki.revs())
	}
	ki.put(revision{main: 3}, nil, 0)
	if ki.revp == nil || len(ki.revs()) != 2 || ki.revs()[0].main != 2 || ki.last().main != 3 {
		t.Fatalf("two puts: revp %p, revisions %v", ki.revp, ki.revs())
	}
	ki.tombstone(revision{main: 4})
	ki.put(revision{main: 5}, nil, 0)
	ki.compact(4, func(revision) {}) // the first generation goes
	if ki.revp != nil || len(ki.revs()) != 1 || ki.last().main != 5 || !ki.live() {
		t.Fatalf("compacted to one: revp %p, revisions %v", ki.revp, ki.revs())
	}
	if c, v := ki.generation(); c != 5 || v != 1 {
		t.Errorf("compacted to one: created %d version %d, want 5 and 1", c, v)
	}
	ki.tombstone(revision{main: 6})
	if !ki.compact(6, func(revision) {}) || ki.revp != nil || ki.only != (revision{}) {
		t.Fatalf("compacted away: revp %p, inline %v", ki.revp, ki.only)
	}
}

// A removed key's index number is reused, emptied, and the tree and table
// find the new key under it.
func TestIndexReusesRemovedKeyIndex(t *testing.T) {
	x := newIndex()
	a := x.getOrCreate([]byte("a"))
	a.put(revision{main: 2}, nil, 0)
	x.getOrCreate([]byte("b")).put(revision{main: 3}, nil, 0)
	a.tombstone(revision{main: 4})
	if !a.compact(4, func(revision) {}) {
		t.Fatal("a kept revisions")
	}
	x.remove(a)
	if x.get([]byte("a")) != nil {
		t.Fatal("a still indexed")
	}
	c := x.getOrCreate([]byte("c"))
	if c != a || c.nrev != 0 || c.key() != "c" {
		t.Fatalf("c: %p (a was %p), %d revisions, key %q", c, a, c.nrev, c.key())
	}
	c.put(revision{main: 5}, nil, 0)
	var keys []string
	x.visit([]byte("a"), []byte{0}, func(ki *keyIndex) bool {
		keys = append(keys, ki.key())
		return true
	})
	if len(keys) != 2 || keys[0] != "b" || keys[1] != "c" || x.get([]byte("c")) != c {
		t.Fatalf("keys from a: %q", keys)
	}
}
