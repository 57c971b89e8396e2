// Package engine is the contract between the MVCC state machine and the
// ordered key-value stores under it (engines/memory, engines/rocksdb).
//
// Every engine must pass the conformance suite in engines/conformance.
package engine

import "errors"

// ErrClosed is returned by operations on a closed engine.
var ErrClosed = errors.New("engine: closed")

// Reader reads an ordered byte-keyed map. Keys compare with bytes.Compare.
type Reader interface {
	// Get returns a copy of the value stored at key, and whether it exists.
	Get(key []byte) (value []byte, ok bool, err error)
	// NewIter iterates over the keys in [lower, upper); nil upper means no
	// bound. The iterator sees the state at the moment NewIter was called,
	// unaffected by later writes. Close it when done.
	NewIter(lower, upper []byte) Iterator
}

// Iterator walks keys in order. Key and Value are valid until the next move;
// callers copy what they keep.
type Iterator interface {
	// First positions at the smallest key; false when empty.
	First() bool
	// Last positions at the largest key; false when empty.
	Last() bool
	// SeekGE positions at the first key >= key.
	SeekGE(key []byte) bool
	Next() bool
	Prev() bool
	Valid() bool
	Key() []byte
	Value() []byte
	// Error reports a read failure that ended the walk early: a move that
	// returns false is either the end of the range (Error nil) or a
	// failure. Callers that walk to the end check it; Close returns it too.
	Error() error
	Close() error
}

// Batch collects writes that Engine.Write applies atomically, in order.
type Batch interface {
	Set(key, value []byte)
	Delete(key []byte)
	// Len is the number of operations collected.
	Len() int
	Reset()
}

// Snapshot is a consistent, read-only view of the engine at one instant.
type Snapshot interface {
	Reader
	Close() error
}

// Engine is an ordered key-value store with atomic batched writes.
//
// On a durable engine the MVCC layer stores its applied raft index in the
// same batch as the data that index covers, so after a crash the two can
// never disagree (on one that is not, it may write it once per group of
// entries: see mvcc.Store.BeginApplyGroup). A durable engine (Durable()
// true) must make Write's effects survive a process crash atomically: all
// of a batch or none of it.
type Engine interface {
	Reader
	NewBatch() Batch
	// Write applies b atomically. The batch may be reused after Reset.
	Write(b Batch) error
	// Snapshot returns a consistent view; later writes do not show in it.
	Snapshot() Snapshot
	// Durable reports whether the contents survive a restart on their own.
	// The memory engine is not durable: the replica rebuilds it from the
	// raft snapshot and the WAL.
	Durable() bool
	Close() error
}

// Syncer is implemented by a durable engine whose writes survive a process
// crash at once but a machine crash only once synced (RocksDB with its WAL
// unsynced). Until then the raft WAL is what covers the applied entries, so
// a replica that would drop raft log entries on the strength of the engine
// alone (a raft snapshot that does not carry the data) must call Sync first.
type Syncer interface {
	// Sync makes every Write that returned survive a machine crash.
	Sync() error
}

// WriteFlusher is implemented by a durable engine that may hold the latest
// Writes in process memory (RocksDB's WAL buffer) until FlushWrites: until
// then a process crash may take a suffix of them, whole batches only. The
// replica flushes every 64 KiB of applied entries and at every tick; the
// raft WAL, synced before the entries were applied, replays what a crash
// took, as it does for a Syncer's unsynced writes after a machine crash.
// Sync flushes too.
type WriteFlusher interface {
	// FlushWrites hands every Write that returned to the OS, so that a
	// process crash keeps it.
	FlushWrites() error
}
