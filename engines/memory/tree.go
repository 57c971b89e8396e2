package memory

import (
	"bytes"
	"encoding/binary"
	"unsafe"
)

// tree is the engine's ordered set of items: a B-tree whose nodes are
// shared copy-on-write between a tree and its clones.
//
// It replaces github.com/google/btree for memory and the collector's sake.
// That tree grows a node's item array by append and splits a full node in
// half, so under ascending inserts, which MVCC revisions always are, every
// node left behind holds half of a grown array: 35 bytes per key at degree
// 40 for a 16-byte item. Here a node's array is allocated once at full
// capacity, and a node that overflows because an item was added at its
// right end keeps all but one of its items (the new right node takes the
// rest), so an ascending load leaves nodes nearly full: about 19 bytes per
// key. Inserts elsewhere split in the middle, as usual. The node size is
// chosen for the collector (see nodeItems).
//
// A node is owned by the tree whose cow token it carries; any other tree
// (a clone, or the original after Clone) copies it before changing it, so
// a clone never sees later writes and costs nothing until someone writes.
type tree struct {
	root   *node // nil when empty
	length int
	cow    *cowToken
	max    int // items per node; a node briefly holds max+1 while it splits
}

// cowToken identifies the tree allowed to modify a node in place. It has a
// field so that distinct tokens have distinct addresses.
type cowToken struct{ _ byte }

type node struct {
	items    []item  // sorted; capacity max+1
	children []*node // nil for a leaf, else len(items)+1 of them, capacity max+2
	cow      *cowToken
}

// nodeItems is the production node size: 32 slots of 16 bytes fill a
// 512-byte allocation exactly (31 items and the slot a split needs). The
// size is the collector's: Go scans objects of up to 512 bytes span by
// span, and larger ones one by one. A full collection of an engine holding
// a million 308-byte records cost 25-27 ms of CPU with 1 KiB nodes (63
// items), 17.5-18 ms with these (google/btree at degree 40: 36-40), for
// 1.6 bytes/key more tree.
const nodeItems = 31

func newTree(max int) *tree {
	if max < 3 {
		panic("memory: tree nodes need room for three items")
	}
	return &tree{cow: new(cowToken), max: max}
}

// compareItems orders items by key, as bytes.Compare does. Keys of eight
// bytes or more are compared first by their first eight, as big-endian
// words, inline; only a tie (or a short key) goes on to compareKeys. Most
// comparisons a search makes end there (the store's key families differ
// in their first byte), and a call into bytes.Compare's assembly cost more
// than the comparing: a put's replacement of the applied index searches
// with ~20 of them, ~1,400 instructions of a put's ~5,700 in core/mvcc's
// BenchmarkPut.
func compareItems(a, b item) int {
	if a.klen >= 8 && b.klen >= 8 {
		x := binary.BigEndian.Uint64((*[8]byte)(unsafe.Pointer(a.p))[:])
		y := binary.BigEndian.Uint64((*[8]byte)(unsafe.Pointer(b.p))[:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return compareKeys(a, b)
}

// compareKeys is bytes.Compare of a's and b's keys, eight bytes at a time
// while both have them (revision keys differ in their second word).
func compareKeys(a, b item) int {
	ka, kb := a.key(), b.key()
	for len(ka) >= 8 && len(kb) >= 8 {
		x, y := binary.BigEndian.Uint64(ka), binary.BigEndian.Uint64(kb)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		ka, kb = ka[8:], kb[8:]
	}
	return bytes.Compare(ka, kb)
}

// search returns the index of the first item of n not less than key, and
// whether that item equals key.
func (n *node) search(key item) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareItems(n.items[m], key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.items) && compareItems(n.items[lo], key) == 0
}

func (t *tree) Len() int { return t.length }

// Clone returns a tree with the same contents. Both trees give up
// ownership of every existing node, so whichever writes first copies.
func (t *tree) Clone() *tree {
	c := *t
	t.cow, c.cow = new(cowToken), new(cowToken)
	return &c
}

func (t *tree) newNode(leaf bool) *node {
	n := &node{items: make([]item, 0, t.max+1), cow: t.cow}
	if !leaf {
		n.children = make([]*node, 0, t.max+2)
	}
	return n
}

// mutable returns n itself when t owns it, else t's private copy of it.
func (t *tree) mutable(n *node) *node {
	if n.cow == t.cow {
		return n
	}
	c := t.newNode(n.children == nil)
	c.items = append(c.items, n.items...)
	if n.children != nil {
		c.children = append(c.children, n.children...)
	}
	return c
}

// mutableChild makes n's i-th child t's own and returns it.
func (t *tree) mutableChild(n *node, i int) *node {
	c := t.mutable(n.children[i])
	n.children[i] = c
	return c
}

// Get returns the item equal to key.
func (t *tree) Get(key item) (item, bool) {
	for n := t.root; n != nil; {
		i, found := n.search(key)
		if found {
			return n.items[i], true
		}
		if n.children == nil {
			break
		}
		n = n.children[i]
	}
	return item{}, false
}

// ReplaceOrInsert adds it, replacing and returning an equal item if any.
//
// An item past the last one (every MVCC revision is) goes down the right
// edge after one comparison, with the last item, instead of a search at
// every level: five comparisons a level, each a bytes.Compare of keys read
// through their items, about 900 instructions of a put of a new key (a
// tenth) in core/mvcc's BenchmarkPutNewKeys.
func (t *tree) ReplaceOrInsert(it item) (item, bool) {
	if t.root == nil {
		t.root = t.newNode(true)
	}
	past := len(t.root.items) > 0 && compareItems(t.root.last(), it) < 0
	t.root = t.mutable(t.root)
	old, replaced, atEnd := t.insert(t.root, it, past)
	if len(t.root.items) > t.max {
		left := t.root
		mid, right := t.split(left, atEnd)
		t.root = t.newNode(false)
		t.root.items = append(t.root.items, mid)
		t.root.children = append(t.root.children, left, right)
	}
	if !replaced {
		t.length++
	}
	return old, replaced
}

// insert adds it under n, which t owns, and reports whether it went to the
// right end of n's subtree (it is the largest there); past says it is
// known to be larger than every item of the subtree. A child that
// overflows is split here; n itself may be left holding max+1 items, for
// its caller to split.
func (t *tree) insert(n *node, it item, past bool) (old item, replaced, atEnd bool) {
	i, found := len(n.items), false
	if !past {
		i, found = n.search(it)
	}
	if found {
		old, n.items[i] = n.items[i], it
		return old, true, false
	}
	if n.children == nil {
		n.items = insertAt(n.items, i, it)
		return item{}, false, i == len(n.items)-1
	}
	last := i == len(n.items)
	c := t.mutableChild(n, i)
	old, replaced, atEnd = t.insert(c, it, past)
	if len(c.items) > t.max {
		mid, right := t.split(c, atEnd)
		n.items = insertAt(n.items, i, mid)
		n.children = append(n.children, nil)
		copy(n.children[i+2:], n.children[i+1:])
		n.children[i+1] = right
	}
	return old, replaced, atEnd && last
}

// last returns the largest item of n's subtree, which is not empty.
func (n *node) last() item {
	for n.children != nil {
		n = n.children[len(n.children)-1]
	}
	return n.items[len(n.items)-1]
}

func insertAt(items []item, i int, it item) []item {
	items = append(items, item{})
	copy(items[i+1:], items[i:])
	items[i] = it
	return items
}

// split divides n, which holds max+1 items, into n and a new right
// sibling, and returns the item that separates them. When the overflow
// came from an insert at n's right end, the likely next insert is further
// right: n keeps max-1 items and the new node starts with one, so an
// ascending load leaves full nodes behind. Otherwise n splits in half.
func (t *tree) split(n *node, atEnd bool) (item, *node) {
	s := len(n.items) / 2
	if atEnd {
		s = len(n.items) - 2
	}
	mid := n.items[s]
	right := t.newNode(n.children == nil)
	right.items = append(right.items, n.items[s+1:]...)
	clear(n.items[s:])
	n.items = n.items[:s]
	if n.children != nil {
		right.children = append(right.children, n.children[s+1:]...)
		clear(n.children[s+1:])
		n.children = n.children[:s+1]
	}
	return mid, right
}

// Delete removes the item equal to key and returns it.
func (t *tree) Delete(key item) (item, bool) {
	if t.root == nil {
		return item{}, false
	}
	t.root = t.mutable(t.root)
	old, found := t.remove(t.root, key)
	if len(t.root.items) == 0 {
		if t.root.children == nil {
			t.root = nil
		} else {
			t.root = t.root.children[0]
		}
	}
	if found {
		t.length--
	}
	return old, found
}

// minItems is the fill below which a node borrows from or merges with a
// sibling after a removal.
func (t *tree) minItems() int { return t.max / 2 }

// remove deletes key from n's subtree; n is t's own.
func (t *tree) remove(n *node, key item) (item, bool) {
	i, found := n.search(key)
	if n.children == nil {
		if !found {
			return item{}, false
		}
		old := n.items[i]
		n.items = removeAt(n.items, i)
		return old, true
	}
	c := t.mutableChild(n, i)
	var old item
	if found {
		// Replace it with its predecessor, the largest item of the
		// subtree to its left.
		old = n.items[i]
		n.items[i] = t.removeMax(c)
	} else if old, found = t.remove(c, key); !found {
		return item{}, false
	}
	t.rebalance(n, i)
	return old, true
}

// removeMax deletes and returns the largest item of n's subtree; n is t's
// own and not empty.
func (t *tree) removeMax(n *node) item {
	if n.children == nil {
		last := n.items[len(n.items)-1]
		n.items = removeAt(n.items, len(n.items)-1)
		return last
	}
	i := len(n.children) - 1
	it := t.removeMax(t.mutableChild(n, i))
	t.rebalance(n, i)
	return it
}

func removeAt(items []item, i int) []item {
	copy(items[i:], items[i+1:])
	items[len(items)-1] = item{} // drop the reference for the collector
	return items[:len(items)-1]
}

// rebalance restores the fill of n's i-th child, which t owns, after a
// removal under it: it borrows an item through n from a sibling that can
// spare one, or else merges with a sibling. (A split at a right end leaves
// one node per level with fewer than minItems; nothing else does, and the
// rule stays sound for it: a merge only joins nodes of at most minItems
// items each.)
func (t *tree) rebalance(n *node, i int) {
	c := n.children[i]
	if len(c.items) >= t.minItems() {
		return
	}
	switch {
	case i > 0 && len(n.children[i-1].items) > t.minItems():
		left := t.mutableChild(n, i-1)
		c.items = insertAt(c.items, 0, n.items[i-1])
		n.items[i-1] = left.items[len(left.items)-1]
		left.items = removeAt(left.items, len(left.items)-1)
		if c.children != nil {
			c.children = append(c.children, nil)
			copy(c.children[1:], c.children)
			c.children[0] = left.children[len(left.children)-1]
			left.children[len(left.children)-1] = nil
			left.children = left.children[:len(left.children)-1]
		}
	case i+1 < len(n.children) && len(n.children[i+1].items) > t.minItems():
		right := t.mutableChild(n, i+1)
		c.items = append(c.items, n.items[i])
		n.items[i] = right.items[0]
		right.items = removeAt(right.items, 0)
		if c.children != nil {
			c.children = append(c.children, right.children[0])
			copy(right.children, right.children[1:])
			right.children[len(right.children)-1] = nil
			right.children = right.children[:len(right.children)-1]
		}
	default:
		if i+1 == len(n.children) {
			if i == 0 {
				return // an only child: the caller lifts it when n empties
			}
			i-- // merge into the left sibling
		}
		left := t.mutableChild(n, i)
		right := n.children[i+1]
		left.items = append(left.items, n.items[i])
		left.items = append(left.items, right.items...)
		if left.children != nil {
			left.children = append(left.children, right.children...)
		}
		n.items = removeAt(n.items, i)
		copy(n.children[i+1:], n.children[i+2:])
		n.children[len(n.children)-1] = nil
		n.children = n.children[:len(n.children)-1]
	}
}

// AscendGreaterOrEqual calls fn on each item not less than pivot, in
// ascending order, until fn returns false.
func (t *tree) AscendGreaterOrEqual(pivot item, fn func(item) bool) {
	if t.root != nil {
		t.root.ascend(&pivot, fn)
	}
}

// ascend visits n's subtree from pivot (nil: from the start); false means
// fn stopped it.
func (n *node) ascend(pivot *item, fn func(item) bool) bool {
	i := 0
	if pivot != nil {
		i, _ = n.search(*pivot)
	}
	for ; i < len(n.items); i++ {
		if n.children != nil && !n.children[i].ascend(pivot, fn) {
			return false
		}
		pivot = nil // everything after the first child is past it
		if !fn(n.items[i]) {
			return false
		}
	}
	if n.children != nil {
		return n.children[len(n.items)].ascend(pivot, fn)
	}
	return true
}

// Descend calls fn on every item in descending order until it returns
// false.
func (t *tree) Descend(fn func(item) bool) {
	if t.root != nil {
		t.root.descend(nil, fn)
	}
}

// DescendLessOrEqual calls fn on each item not greater than pivot, in
// descending order, until fn returns false.
func (t *tree) DescendLessOrEqual(pivot item, fn func(item) bool) {
	if t.root != nil {
		t.root.descend(&pivot, fn)
	}
}

// descend visits n's subtree downwards from pivot (nil: from the end).
func (n *node) descend(pivot *item, fn func(item) bool) bool {
	i := len(n.items) // items[:i] are <= pivot
	if pivot != nil {
		var found bool
		i, found = n.search(*pivot)
		if found {
			i++
		}
	}
	if n.children != nil && !n.children[i].descend(pivot, fn) {
		return false
	}
	for i--; i >= 0; i-- {
		if !fn(n.items[i]) {
			return false
		}
		if n.children != nil && !n.children[i].descend(nil, fn) {
			return false
		}
	}
	return true
}
