package memory

import "errors"

var errForeignBatch = errors.New("memory: batch was not created by a memory engine")

// op is one batched write. A set's item holds a private copy made by Set,
// or bytes handed over by SetOwned or SetOwnedPair, and becomes the tree's
// stored item on Write, so it is never modified afterwards; Reset forgets
// it rather than reusing it. A delete's key (an item without value) lives in
// the batch's delKeys.
type op struct {
	delete bool
	item
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
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	b.ops = append(b.ops, op{item: newItem(buf, len(key))})
}

// SetOwned records key = value like Set; the engine stores key and value
// together, so it copies them into one buffer. Callers that can lay the
// pair out themselves use SetOwnedPair, which copies nothing.
func (b *batch) SetOwned(key, value []byte) { b.Set(key, value) }

// SetOwnedPair records kv[:keyLen] = kv[keyLen:] like Set, but takes kv
// itself as the bytes to store instead of copying it: the caller gives it
// up and must never modify it again (it may keep reading it, as it stays
// immutable). It is an optional extension of engine.Batch for a caller
// that keeps referring to what it wrote (core/mvcc caches each key's
// latest record) and should not hold a second copy.
func (b *batch) SetOwnedPair(kv []byte, keyLen int) {
	b.ops = append(b.ops, op{item: newItem(kv, keyLen)})
}

// Delete records the removal of key, which is copied.
func (b *batch) Delete(key []byte) {
	n := len(b.delKeys)
	b.delKeys = append(b.delKeys, key...)
	k := b.delKeys[n:len(b.delKeys):len(b.delKeys)]
	b.ops = append(b.ops, op{delete: true, item: keyItem(k)})
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
