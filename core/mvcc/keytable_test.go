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
	tab := newKeyTable()
	want := make(map[string]*keyIndex)
	const space = 300
	for step := range 20_000 {
		k := []byte(fmt.Sprintf("k%d", rng.IntN(space)))
		if ki := want[string(k)]; ki != nil {
			if rng.IntN(3) > 0 { // removals outnumber inserts for a while, then the reverse
				tab.remove(ki)
				delete(want, string(k))
			}
		} else if step%4000 < 3000 {
			ki := newKeyIndex(k)
			tab.insert(ki)
			want[string(k)] = ki
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
					t.Fatalf("step %d: get(%s) = %p, want %p", step, k, got, want[string(k)])
				}
			}
		}
	}
}

// A key index is one 32-byte allocation per key: a field more would move it
// to the next size class and cost every key of a large store.
func TestKeyIndexFits32Bytes(t *testing.T) {
	if n := unsafe.Sizeof(keyIndex{}); n != 32 {
		t.Errorf("keyIndex is %d bytes, want 32", n)
	}
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
