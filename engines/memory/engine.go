// Package memory is an in-memory engine.Engine on a copy-on-write B-tree.
//
// Snapshots and iterators clone the tree in O(1) (the tree shares nodes and
// copies them lazily on the next write; see tree.go), so they see a fixed
// view without copying data. The engine is safe for concurrent use:
// a sync.RWMutex guards the tree root, and a clone is never written, so a
// Snapshot can be read on one goroutine while the owner writes on another.
//
// Stored keys and values are immutable once written: Set copies them in and
// Get copies them out. Iterator Key and Value return the stored bytes
// without copying; callers must not modify them.
package memory

import (
	"bytes"
	"sync"
	"sync/atomic"
	"unsafe"

	"metastore/core/engine"
)

// item is one key/value pair in the tree: the key and then the value, back
// to back in one immutable buffer that item points into. A pointer and two
// 32-bit lengths make a tree slot 16 bytes where a slice and a length took
// 32 (paid about once per key under ascending keys, which fill the tree's
// nodes, and about 1.5 times under random keys).
// The bytes are never modified after insertion, which is what makes sharing
// them with clones safe; p keeps the whole buffer alive.
type item struct {
	p    *byte
	n    uint32 // key and value bytes
	klen uint32
}

// maxPair bounds a stored pair so that its lengths fit item's fields.
const maxPair = 1<<32 - 1

// newItem makes an item of kv[:klen] = kv[klen:], taking kv as the stored
// bytes.
func newItem(kv []byte, klen int) item {
	if len(kv) > maxPair {
		panic("memory: key and value larger than 4 GiB")
	}
	return item{p: unsafe.SliceData(kv), n: uint32(len(kv)), klen: uint32(klen)}
}

// keyItem is an item for looking key up (no value).
func keyItem(key []byte) item { return newItem(key, len(key)) }

func (it item) bytes() []byte { return unsafe.Slice(it.p, it.n) }

func (it item) key() []byte { return it.bytes()[:it.klen:it.klen] }

// value returns the value; its capacity ends with it, so an append by a
// careless caller cannot reach into shared bytes.
func (it item) value() []byte { return it.bytes()[it.klen:] }

// Stats counts the writes applied to an Engine.
type Stats struct {
	Batches uint64 // successful Write calls
	Ops     uint64 // operations across those batches
	Keys    int    // keys currently stored
}

// Engine is an in-memory engine.Engine. The zero value is not usable; call
// New.
type Engine struct {
	mu     sync.RWMutex
	tree   *tree
	closed bool
	stats  Stats
	// liveBytes is the size of the stored keys and values, kept by Write
	// from the items the tree hands back (no lookup of its own).
	liveBytes atomic.Int64
}

var _ engine.Engine = (*Engine)(nil)

// New returns an empty engine.
func New() *Engine {
	return &Engine{tree: newTree(nodeItems)}
}

// Get returns a copy of the value at key.
func (e *Engine) Get(key []byte) ([]byte, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, false, engine.ErrClosed
	}
	v, ok := get(e.tree, key)
	return v, ok, nil
}

// NewIter returns an iterator over [lower, upper) of the current state.
// Iterators created after Close are empty.
func (e *Engine) NewIter(lower, upper []byte) engine.Iterator {
	t := e.clone()
	if t == nil {
		return newIter(nil, lower, upper)
	}
	return newIter(t, lower, upper)
}

// NewBatch returns an empty batch for Write.
func (e *Engine) NewBatch() engine.Batch { return &batch{} }

// Write applies b atomically: readers see all of its operations or none.
// b must come from NewBatch of a memory engine.
func (e *Engine) Write(b engine.Batch) error {
	mb, ok := b.(*batch)
	if !ok {
		return errForeignBatch
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return engine.ErrClosed
	}
	var delta int64
	for i := range mb.ops {
		op := &mb.ops[i]
		if op.delete {
			if old, had := e.tree.Delete(keyItem(op.key())); had {
				delta -= int64(old.n)
			}
		} else {
			old, had := e.tree.ReplaceOrInsert(op.item)
			delta += int64(op.n)
			if had {
				delta -= int64(old.n)
			}
		}
	}
	e.liveBytes.Add(delta)
	e.stats.Batches++
	e.stats.Ops += uint64(len(mb.ops))
	return nil
}

// LiveBytes is the byte size of the stored keys and values. Safe from any
// goroutine.
func (e *Engine) LiveBytes() int64 { return e.liveBytes.Load() }

// Snapshot returns a read-only view of the current state. A snapshot taken
// after Close reports engine.ErrClosed from Get and iterates nothing.
func (e *Engine) Snapshot() engine.Snapshot {
	return &snapshot{tree: e.clone()}
}

// Durable reports false: the contents do not survive a restart.
func (e *Engine) Durable() bool { return false }

// Close drops the contents. Snapshots and iterators opened before Close
// keep their view. A second Close returns engine.ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return engine.ErrClosed
	}
	e.closed = true
	e.tree = nil
	return nil
}

// Stats returns the write counters and the current key count.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := e.stats
	if e.tree != nil {
		s.Keys = e.tree.Len()
	}
	return s
}

// clone returns a private copy of the tree, or nil when closed.
func (e *Engine) clone() *tree {
	// NB: Clone replaces the receiver's copy-on-write context, so it is a
	// write to the tree header and needs the exclusive lock.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	return e.tree.Clone()
}

// get looks key up in t and returns a copy of its value.
func get(t *tree, key []byte) ([]byte, bool) {
	it, ok := t.Get(keyItem(key))
	if !ok {
		return nil, false
	}
	return bytes.Clone(nonNil(it.value())), true
}

// nonNil maps nil to an empty slice so that a present empty value is never
// confused with an absent one by callers that test v == nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
