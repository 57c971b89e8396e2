package rocksdb

import (
	"runtime"

	"github.com/linxGnu/grocksdb"
)

// maxKeptBatchBytes bounds what a batch keeps allocated across Reset: a
// RocksDB WriteBatch keeps its buffer's capacity when cleared, so after one
// huge batch (a snapshot restore, a compaction) Reset frees it instead.
const maxKeptBatchBytes = 4 << 20

// batch is the engine's engine.Batch. It records its operations in its own
// buffer and hands them to a RocksDB WriteBatch at Write, which is when it
// knows the engine, and so the column family of each key (revisionKeys):
// a batch belongs to no engine, and one engine's batch may be written to
// another (a reopened database).
type batch struct {
	h     *wbHandle
	ops   []batchOp
	buf   []byte // the operations' keys and values, back to back
	n     int    // operations
	bytes int    // payload added since the last Reset
}

// batchOp is one recorded operation: its key is buf[start:mid], its value
// buf[mid:end] (none for a deletion).
type batchOp struct {
	start, mid, end int
	del             bool
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
	start := len(b.buf)
	b.buf = append(append(b.buf, key...), value...)
	b.ops = append(b.ops, batchOp{start: start, mid: start + len(key), end: len(b.buf)})
	b.n++
	b.bytes += len(key) + len(value)
}

// Delete records the removal of key, which is copied.
func (b *batch) Delete(key []byte) {
	start := len(b.buf)
	b.buf = append(b.buf, key...)
	b.ops = append(b.ops, batchOp{start: start, mid: len(b.buf), end: len(b.buf), del: true})
	b.n++
	b.bytes += len(key)
}

// writeBatch fills the C WriteBatch with the operations, each in its key's
// column family of e. The caller holds e.mu shared on an open engine.
func (b *batch) writeBatch(e *Engine) *grocksdb.WriteBatch {
	wb := b.h.wb
	wb.Clear()
	for _, op := range b.ops {
		key := b.buf[op.start:op.mid]
		if op.del {
			wb.DeleteCF(e.columnFamily(key), key)
		} else {
			wb.PutCF(e.columnFamily(key), key, b.buf[op.mid:op.end])
		}
	}
	return wb
}

// Len is the number of recorded operations.
func (b *batch) Len() int { return b.n }

// Reset empties the batch for reuse. Its own buffer is kept up to twice
// maxKeptBatchBytes, so batches of a few MiB written one after another (a
// snapshot restore) reuse one buffer: grown from nothing each time, they
// put about four times their size through the Go heap per batch, and the
// collections that paid for it marked the key index being rebuilt.
func (b *batch) Reset() {
	if b.bytes > maxKeptBatchBytes {
		old := b.h.wb
		b.h.wb = grocksdb.NewWriteBatch()
		old.Destroy()
	} else {
		b.h.wb.Clear()
	}
	if cap(b.buf) > 2*maxKeptBatchBytes {
		b.buf, b.ops = nil, nil
	} else {
		b.buf, b.ops = b.buf[:0], b.ops[:0]
	}
	b.n, b.bytes = 0, 0
}
