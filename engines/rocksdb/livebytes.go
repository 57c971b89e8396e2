package rocksdb

import (
	"sync"
	"sync/atomic"
)

// liveRefreshBytes is how much payload may be written between two readings
// of RocksDB's size properties: a reading is two cgo calls, an apply batch
// a few hundred bytes, so this costs nothing per write and keeps the
// estimate within a megabyte of what RocksDB would say.
const liveRefreshBytes = 1 << 20

// liveSize is LiveBytes' estimate: RocksDB's own account of what it holds
// at the last reading, plus the payload written since.
type liveSize struct {
	base      atomic.Int64 // live SST files + memtables at the last reading
	since     atomic.Int64 // payload bytes written after it
	refreshMu sync.Mutex   // one reading at a time
}

// LiveBytes is the byte size of the database as RocksDB holds it: its live
// SST files and its memtables (refreshed every liveRefreshBytes written and
// after Flush and Compact), plus the keys and values written since. It is
// what the space quota and Status's dbSize report for a RocksDB member, a
// physical size like etcd's bbolt file size: overwritten and deleted
// versions count until a compaction drops them, and Defragment (a full
// compaction) shrinks it. Keeping a logical count of live pairs instead
// would take a read of every written key's previous value, on the apply
// path. Safe from any goroutine.
func (e *Engine) LiveBytes() int64 { return e.live.base.Load() + e.live.since.Load() }

// wrote accounts for n payload bytes just written, re-reading RocksDB's
// figures once enough has piled up. The caller holds e.mu shared.
func (e *Engine) wrote(n int) {
	if e.live.since.Add(int64(n)) >= liveRefreshBytes {
		e.refreshLive()
	}
}

// refreshLive reads RocksDB's size figures. The caller holds e.mu shared
// (or exclusively, in Open) and the database is open.
func (e *Engine) refreshLive() {
	if !e.live.refreshMu.TryLock() {
		return // another writer is reading them
	}
	defer e.live.refreshMu.Unlock()
	var total int64
	for _, p := range []string{"rocksdb.live-sst-files-size", "rocksdb.cur-size-all-mem-tables"} {
		total += int64(e.intProperty(p))
	}
	// Bytes written while the properties were read are counted twice
	// until the next reading: an overestimate of a few batches at most.
	e.live.since.Store(0)
	e.live.base.Store(total)
}
