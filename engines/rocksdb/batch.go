package rocksdb

import (
	"runtime"

	"github.com/linxGnu/grocksdb"
)

// maxKeptBatchBytes bounds what a batch keeps allocated across Reset: a
// RocksDB WriteBatch keeps its buffer's capacity when cleared, so after one
// huge batch (a snapshot restore, a compaction) Reset frees it instead.
const maxKeptBatchBytes = 4 << 20

// batch is the engine's engine.Batch: a RocksDB WriteBatch, which copies
// keys and values into its own buffer as they are added.
type batch struct {
	h     *wbHandle
	n     int // operations
	bytes int // payload added since the last Reset
}

// wbHandle owns the C WriteBatch. The batch points to it, never the other
// way round, so a cleanup attached to the batch can free it when the batch
// becomes garbage (the store keeps its batches for its whole life and has
// no Close for them).
type wbHandle struct{ wb *grocksdb.WriteBatch }

func newBatch() *batch {
	b := &batch{h: &wbHandle{wb: grocksdb.NewWriteBatch()}}
	runtime.AddCleanup(b, func(h *wbHandle) { h.wb.Destroy() }, b.h)
	return b
}

// Set records key = value; both are copied.
func (b *batch) Set(key, value []byte) {
	b.h.wb.Put(key, value)
	b.n++
	b.bytes += len(key) + len(value)
}

// Delete records the removal of key, which is copied.
func (b *batch) Delete(key []byte) {
	b.h.wb.Delete(key)
	b.n++
	b.bytes += len(key)
}

// Len is the number of recorded operations.
func (b *batch) Len() int { return b.n }

// Reset empties the batch for reuse.
func (b *batch) Reset() {
	if b.bytes > maxKeptBatchBytes {
		old := b.h.wb
		b.h.wb = grocksdb.NewWriteBatch()
		old.Destroy()
	} else {
		b.h.wb.Clear()
	}
	b.n, b.bytes = 0, 0
}
