package memory

import "errors"

var errForeignBatch = errors.New("memory: batch was not created by a memory engine")

// op is one batched write. A set's slices are private copies made by Set,
// or slices handed over by SetOwned, and become the tree's stored bytes on
// Write, so they are never modified afterwards; Reset forgets them rather
// than reusing them. A delete's key lives in the batch's delKeys.
type op struct {
	delete     bool
	key, value []byte
}

// batch is the memory engine's engine.Batch. It is not safe for concurrent
// use.
type batch struct {
	ops []op
	// delKeys holds the copies of Delete's keys back to back. The tree only
	// looks a deleted key up and never keeps it, so unlike Set's bytes this
	// buffer is reused after Reset (a steady stream of deletes allocates
	// nothing). Growing it leaves earlier keys valid in the old array.
	delKeys []byte
}

// maxKeptDelKeys bounds the delete-key buffer a batch keeps across Reset,
// so one huge batch (a compaction) does not pin its keys' space forever.
const maxKeptDelKeys = 64 << 10

// Set records key = value. key and value are copied: the caller may reuse
// them as soon as Set returns.
func (b *batch) Set(key, value []byte) {
	// One allocation holds both; the capacity limits keep either from
	// growing into the other.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	b.ops = append(b.ops, op{
		key:   buf[:len(key):len(key)],
		value: buf[len(key):],
	})
}

// SetOwned records key = value like Set, but takes the slices themselves as
// the bytes to store instead of copying them: the caller gives them up and
// must never modify them again (it may keep reading them, as they stay
// immutable). It is an optional extension of engine.Batch for a caller
// that keeps referring to what it wrote (core/mvcc caches each key's latest
// record) and should not hold a second copy.
func (b *batch) SetOwned(key, value []byte) {
	b.ops = append(b.ops, op{key: key, value: value})
}

// Delete records the removal of key, which is copied.
func (b *batch) Delete(key []byte) {
	n := len(b.delKeys)
	b.delKeys = append(b.delKeys, key...)
	k := b.delKeys[n:len(b.delKeys):len(b.delKeys)]
	b.ops = append(b.ops, op{delete: true, key: k})
}

// Len returns the number of recorded operations.
func (b *batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its capacity.
func (b *batch) Reset() {
	clear(b.ops) // drop references to bytes the tree may now own
	b.ops = b.ops[:0]
	if cap(b.delKeys) > maxKeptDelKeys {
		b.delKeys = nil
	}
	b.delKeys = b.delKeys[:0]
}
