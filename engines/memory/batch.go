package memory

import "errors"

var errForeignBatch = errors.New("memory: batch was not created by a memory engine")

// op is one batched write. Its slices are private copies made by Set and
// Delete and become the tree's stored bytes on Write, so they are never
// modified afterwards; Reset forgets them rather than reusing them.
type op struct {
	delete     bool
	key, value []byte
}

// batch is the memory engine's engine.Batch. It is not safe for concurrent
// use.
type batch struct {
	ops []op
}

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

// Delete records the removal of key, which is copied.
func (b *batch) Delete(key []byte) {
	k := make([]byte, len(key))
	copy(k, key)
	b.ops = append(b.ops, op{delete: true, key: k})
}

// Len returns the number of recorded operations.
func (b *batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its capacity.
func (b *batch) Reset() {
	clear(b.ops) // drop references to bytes the tree may now own
	b.ops = b.ops[:0]
}
