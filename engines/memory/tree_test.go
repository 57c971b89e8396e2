package memory

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// testItem makes an item whose key is k (4 bytes, big-endian) and whose
// value is tag, so a replacement can be told apart.
func testItem(k uint32, tag byte) item {
	kv := binary.BigEndian.AppendUint32(nil, k)
	return newItem(append(kv, tag), 4)
}

func keyOf(it item) uint32 { return binary.BigEndian.Uint32(it.key()) }

// modelTree is the reference: keys to tags.
type modelTree map[uint32]byte

func (m modelTree) sortedKeys() []uint32 {
	keys := make([]uint32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkTree verifies t's structure (order, fill bounds, child counts, equal
// leaf depth, cleared slots past each node's length) and that it holds
// exactly m.
func checkTree(t *testing.T, tr *tree, m modelTree) {
	t.Helper()
	if tr.Len() != len(m) {
		t.Fatalf("Len %d, model %d", tr.Len(), len(m))
	}
	leafDepth := -1
	var walk func(n *node, depth int, lo, hi *item)
	walk = func(n *node, depth int, lo, hi *item) {
		if n != tr.root && len(n.items) == 0 {
			t.Fatalf("empty non-root node at depth %d", depth)
		}
		if len(n.items) > tr.max {
			t.Fatalf("node holds %d items, max %d", len(n.items), tr.max)
		}
		for i, it := range n.items {
			if i > 0 && compareItems(n.items[i-1], it) >= 0 {
				t.Fatalf("node items out of order at %d", i)
			}
			if lo != nil && compareItems(*lo, it) >= 0 || hi != nil && compareItems(it, *hi) >= 0 {
				t.Fatalf("item %d outside its parent's bounds", keyOf(it))
			}
		}
		for _, it := range n.items[len(n.items):cap(n.items)] {
			if it.p != nil {
				t.Fatal("a slot past a node's length still refers to a record")
			}
		}
		if n.children == nil {
			if leafDepth == -1 {
				leafDepth = depth
			} else if leafDepth != depth {
				t.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
			return
		}
		if len(n.children) != len(n.items)+1 {
			t.Fatalf("%d items, %d children", len(n.items), len(n.children))
		}
		for _, c := range n.children[len(n.children):cap(n.children)] {
			if c != nil {
				t.Fatal("a child slot past the length still refers to a node")
			}
		}
		for i, c := range n.children {
			var clo, chi *item
			if i > 0 {
				clo = &n.items[i-1]
			} else {
				clo = lo
			}
			if i < len(n.items) {
				chi = &n.items[i]
			} else {
				chi = hi
			}
			walk(c, depth+1, clo, chi)
		}
	}
	if tr.root != nil {
		walk(tr.root, 0, nil, nil)
	}
	var got []uint32
	tr.AscendGreaterOrEqual(testItem(0, 0), func(it item) bool {
		k := keyOf(it)
		if it.value()[0] != m[k] {
			t.Fatalf("key %d has tag %d, model %d", k, it.value()[0], m[k])
		}
		got = append(got, k)
		return true
	})
	if want := m.sortedKeys(); !slices.Equal(got, want) {
		t.Fatalf("ascending scan differs from the model:\n got %v\nwant %v", got, want)
	}
}

// TestTreeRandomAgainstModel applies random inserts, replacements and
// deletes to trees with small nodes (so that splits, borrows, merges and
// root changes all happen), taking clones on the way, and checks the tree
// and every clone against models after each step: a clone must never see
// a later write.
func TestTreeRandomAgainstModel(t *testing.T) {
	for _, max := range []int{3, 4, 5, 8} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("max=%d/seed=%d", max, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(max)))
				tr := newTree(max)
				m := modelTree{}
				type frozen struct {
					tr *tree
					m  modelTree
				}
				var clones []frozen
				keySpace := uint32(20 + rng.IntN(300))
				for step := range 1500 {
					k := rng.Uint32N(keySpace)
					switch op := rng.IntN(10); {
					case op < 5:
						tag := byte(rng.IntN(256))
						old, replaced := tr.ReplaceOrInsert(testItem(k, tag))
						prev, had := m[k]
						if replaced != had || had && old.value()[0] != prev {
							t.Fatalf("step %d: insert %d replaced=%v (model %v)", step, k, replaced, had)
						}
						m[k] = tag
					case op < 6:
						// An ascending run, as MVCC revisions arrive.
						base := keySpace + uint32(step)*8
						for j := range uint32(rng.IntN(3 * max)) {
							tr.ReplaceOrInsert(testItem(base+j, 1))
							m[base+j] = 1
						}
					case op < 9:
						old, found := tr.Delete(testItem(k, 0))
						prev, had := m[k]
						if found != had || had && old.value()[0] != prev {
							t.Fatalf("step %d: delete %d found=%v (model %v)", step, k, found, had)
						}
						delete(m, k)
					default:
						clones = append(clones, frozen{tr.Clone(), maps(m)})
					}
					if step%50 == 0 {
						checkTree(t, tr, m)
					}
					if step%500 == 0 {
						for _, c := range clones {
							checkTree(t, c.tr, c.m)
						}
					}
				}
				// Empty it completely, in random order.
				for _, k := range shuffled(rng, m.sortedKeys()) {
					if _, found := tr.Delete(testItem(k, 0)); !found {
						t.Fatalf("key %d missing while emptying", k)
					}
					delete(m, k)
				}
				checkTree(t, tr, m)
				if tr.root != nil {
					t.Fatal("an empty tree keeps a root")
				}
				for _, c := range clones {
					checkTree(t, c.tr, c.m)
				}
			})
		}
	}
}

func maps(m modelTree) modelTree {
	c := make(modelTree, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func shuffled(rng *rand.Rand, keys []uint32) []uint32 {
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// TestTreeBounds checks the pivot walks: from a pivot that is present,
// absent, below and above every key, in both directions.
func TestTreeBounds(t *testing.T) {
	tr := newTree(3)
	var keys []uint32
	for k := uint32(10); k <= 500; k += 10 {
		tr.ReplaceOrInsert(testItem(k, 0))
		keys = append(keys, k)
	}
	collect := func(walk func(item, func(item) bool), pivot uint32, limit int) []uint32 {
		var got []uint32
		walk(testItem(pivot, 0), func(it item) bool {
			got = append(got, keyOf(it))
			return len(got) < limit
		})
		return got
	}
	for _, pivot := range []uint32{0, 5, 10, 15, 250, 255, 490, 500, 505} {
		var up, down []uint32
		for _, k := range keys {
			if k >= pivot {
				up = append(up, k)
			}
		}
		for i := len(keys) - 1; i >= 0; i-- {
			if keys[i] <= pivot {
				down = append(down, keys[i])
			}
		}
		if got := collect(tr.AscendGreaterOrEqual, pivot, 1000); !slices.Equal(got, up) {
			t.Errorf("ascend from %d: %v, want %v", pivot, got, up)
		}
		if got := collect(tr.DescendLessOrEqual, pivot, 1000); !slices.Equal(got, down) {
			t.Errorf("descend from %d: %v, want %v", pivot, got, down)
		}
		if got := collect(tr.AscendGreaterOrEqual, pivot, 3); !slices.Equal(got, up[:min(3, len(up))]) {
			t.Errorf("ascend from %d stopped after 3: %v", pivot, got)
		}
	}
	var all []uint32
	tr.Descend(func(it item) bool { all = append(all, keyOf(it)); return true })
	want := slices.Clone(keys)
	slices.Reverse(want)
	if !slices.Equal(all, want) {
		t.Errorf("descend all: %v", all)
	}
}

// TestTreeAscendingLoadFillsNodes checks the reason the tree exists: an
// ascending load leaves nodes nearly full, so the tree costs little more
// than its 16-byte items.
func TestTreeAscendingLoadFillsNodes(t *testing.T) {
	tr := newTree(nodeItems)
	const n = 100_000
	for i := range uint32(n) {
		tr.ReplaceOrInsert(testItem(i, 0))
	}
	var bytesUsed, nodes int
	var walk func(*node)
	walk = func(nd *node) {
		nodes++
		bytesUsed += int(unsafe.Sizeof(node{})) + cap(nd.items)*int(unsafe.Sizeof(item{})) + cap(nd.children)*8
		for _, c := range nd.children {
			walk(c)
		}
	}
	walk(tr.root)
	perKey := float64(bytesUsed) / n
	t.Logf("%d nodes, %.1f bytes/key", nodes, perKey)
	if perKey > 20 {
		t.Fatalf("an ascending load costs %.1f bytes/key of tree; nodes are not being filled", perKey)
	}
	checkTree(t, tr, func() modelTree {
		m := modelTree{}
		for i := range uint32(n) {
			m[i] = 0
		}
		return m
	}())
}

// TestCompareItemsIsBytesCompare checks the word-wise key comparison
// against bytes.Compare on keys from a two-letter alphabet (so that long
// common prefixes, and keys that are prefixes of others, are common) of
// every length around the word size.
func TestCompareItemsIsBytesCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	key := func() []byte {
		k := make([]byte, rng.IntN(27))
		for i := range k {
			k[i] = "ab"[rng.IntN(2)] + byte(rng.IntN(2))*0x80
		}
		return k
	}
	for range 200_000 {
		a, b := key(), key()
		if rng.IntN(4) == 0 {
			b = append(a[:len(a):len(a)], b...)
		}
		want := bytes.Compare(a, b)
		if got := compareItems(newItem(a, len(a)), newItem(b, len(b))); got != want {
			t.Fatalf("compareItems(%x, %x) = %d, bytes.Compare %d", a, b, got, want)
		}
	}
}
