package memory

import "bytes"

// Chunk sizes for refilling an iterator's buffer. The first fill is small
// because most seeks read only a few keys; each refill in a row doubles, so
// a long scan costs O(log n) tree descents per maxChunk keys.
const (
	minChunk = 8
	maxChunk = 256
)

// iter walks a tree clone that nobody writes. It keeps a window of
// consecutive in-bounds items in ascending order and refills it from the
// tree when a move crosses either end, instead of materializing the range.
type iter struct {
	tree         *tree  // nil iterates nothing
	lower, upper []byte // private copies; upper nil = unbounded
	buf          []item // window, ascending
	pos          int    // index in buf when valid
	valid        bool
	chunk        int // next refill size
}

func newIter(t *tree, lower, upper []byte) *iter {
	return &iter{
		tree:  t,
		lower: cloneBound(lower),
		upper: cloneBound(upper),
		buf:   make([]item, 0, minChunk),
	}
}

// cloneBound copies a bound so a caller mutating it cannot move the range,
// keeping nil (no bound) distinct from empty.
func cloneBound(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (it *iter) aboveUpper(k []byte) bool {
	return it.upper != nil && bytes.Compare(k, it.upper) >= 0
}

func (it *iter) belowLower(k []byte) bool {
	return bytes.Compare(k, it.lower) < 0
}

// fillForward loads the window with up to n items from pivot upwards
// (excluding pivot itself unless inclusive) and positions at the first.
func (it *iter) fillForward(pivot []byte, inclusive bool, n int) bool {
	it.buf = it.buf[:0]
	if it.tree != nil {
		// Only the first item visited can be the pivot: compare that one
		// alone (a full scan spent a third of its time comparing each key
		// with the pivot).
		first := !inclusive
		it.tree.AscendGreaterOrEqual(keyItem(pivot), func(x item) bool {
			if first {
				first = false
				if bytes.Equal(x.key(), pivot) {
					return true
				}
			}
			if it.aboveUpper(x.key()) {
				return false
			}
			it.buf = append(it.buf, x)
			return len(it.buf) < n
		})
	}
	it.pos = 0
	it.valid = len(it.buf) > 0
	return it.valid
}

// fillBackward loads the window with up to n items from pivot downwards
// (excluding pivot unless inclusive; a nil pivot starts at the largest
// key) and positions at the last of them in key order.
func (it *iter) fillBackward(pivot []byte, inclusive bool, n int) bool {
	it.buf = it.buf[:0]
	first := pivot != nil && !inclusive // as in fillForward
	visit := func(x item) bool {
		if first {
			first = false
			if bytes.Equal(x.key(), pivot) {
				return true
			}
		}
		if it.belowLower(x.key()) {
			return false
		}
		it.buf = append(it.buf, x)
		return len(it.buf) < n
	}
	if it.tree != nil {
		if pivot == nil {
			it.tree.Descend(visit)
		} else {
			it.tree.DescendLessOrEqual(keyItem(pivot), visit)
		}
	}
	for i, j := 0, len(it.buf)-1; i < j; i, j = i+1, j-1 {
		it.buf[i], it.buf[j] = it.buf[j], it.buf[i]
	}
	it.pos = len(it.buf) - 1
	it.valid = len(it.buf) > 0
	return it.valid
}

// nextChunk returns the size for a refill continuing a scan and grows it.
func (it *iter) nextChunk() int {
	n := it.chunk
	it.chunk = min(2*it.chunk, maxChunk)
	return n
}

func (it *iter) First() bool {
	it.chunk = minChunk
	return it.fillForward(it.lower, true, it.nextChunk())
}

func (it *iter) Last() bool {
	it.chunk = minChunk
	if it.upper == nil {
		return it.fillBackward(nil, false, it.nextChunk())
	}
	return it.fillBackward(it.upper, false, it.nextChunk())
}

func (it *iter) SeekGE(key []byte) bool {
	if it.belowLower(key) {
		key = it.lower
	}
	it.chunk = minChunk
	return it.fillForward(key, true, it.nextChunk())
}

func (it *iter) Next() bool {
	if !it.valid {
		return false
	}
	if it.pos+1 < len(it.buf) {
		it.pos++
		return true
	}
	return it.fillForward(it.buf[it.pos].key(), false, it.nextChunk())
}

func (it *iter) Prev() bool {
	if !it.valid {
		return false
	}
	if it.pos > 0 {
		it.pos--
		return true
	}
	return it.fillBackward(it.buf[it.pos].key(), false, it.nextChunk())
}

func (it *iter) Valid() bool { return it.valid }

// Key returns the current key, or nil when invalid. It aliases the stored
// bytes: do not modify it.
func (it *iter) Key() []byte {
	if !it.valid {
		return nil
	}
	return it.buf[it.pos].key()
}

// Value returns the current value, or nil when invalid. A present empty
// value is a non-nil empty slice. It aliases the stored bytes: do not
// modify it.
func (it *iter) Value() []byte {
	if !it.valid {
		return nil
	}
	return nonNil(it.buf[it.pos].value())
}

// StableValues reports true: Key and Value are the tree's stored bytes,
// never modified, and stay valid for as long as anyone refers to them, not
// only until the next move (an extension of engine.Iterator that core/mvcc
// uses when it loads its index).
func (it *iter) StableValues() bool { return true }

// Error is always nil: walking a tree in memory cannot fail.
func (it *iter) Error() error { return nil }

// Close releases the iterator's view; it is invalid afterwards.
func (it *iter) Close() error {
	it.tree = nil
	it.buf = nil
	it.valid = false
	return nil
}
