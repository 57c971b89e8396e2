package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"
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
