package rocksdb

import (
	"github.com/linxGnu/grocksdb"

	"metastore/core/engine"
)

// snapshot is an engine.Snapshot on a RocksDB snapshot. Reads pass its
// sequence number, so they see the database as it was when it was taken;
// iterators opened on it keep it alive until they close, even past the
// snapshot's own Close.
type snapshot struct {
	e    *Engine
	snap *grocksdb.Snapshot
	ro   *grocksdb.ReadOptions

	// refs counts this handle (until Close) and its open iterators; all
	// changes happen under e.mu (shared) and snapMu.
	refs     int
	closed   bool
	released bool
}

var _ engine.Snapshot = (*snapshot)(nil)

// Get returns a copy of the value at key as of the snapshot.
func (s *snapshot) Get(key []byte) ([]byte, bool, error) {
	if s.e == nil {
		return nil, false, engine.ErrClosed
	}
	s.e.mu.RLock()
	defer s.e.mu.RUnlock()
	if s.isClosed() {
		return nil, false, engine.ErrClosed
	}
	return s.e.get(s.ro, key)
}

// NewIter iterates over [lower, upper) as of the snapshot; it is empty once
// the snapshot or the engine is closed.
func (s *snapshot) NewIter(lower, upper []byte) engine.Iterator {
	if s.e == nil {
		return &iter{}
	}
	s.e.mu.RLock()
	defer s.e.mu.RUnlock()
	if s.isClosed() {
		return &iter{}
	}
	return s.e.newIter(s, lower, upper)
}

// ref takes a reference for an iterator opened on the snapshot. The caller
// holds e.mu shared.
func (s *snapshot) ref() {
	s.e.snapMu.Lock()
	s.refs++
	s.e.snapMu.Unlock()
}

// Close releases the snapshot once its iterators are closed too. A second
// Close returns engine.ErrClosed.
func (s *snapshot) Close() error {
	if s.e == nil {
		return engine.ErrClosed
	}
	s.e.mu.RLock()
	defer s.e.mu.RUnlock()
	s.e.snapMu.Lock()
	if s.closed || s.released {
		s.e.snapMu.Unlock()
		return engine.ErrClosed
	}
	s.closed = true
	s.e.snapMu.Unlock()
	s.unref()
	return nil
}

func (s *snapshot) isClosed() bool {
	s.e.snapMu.Lock()
	defer s.e.snapMu.Unlock()
	return s.closed || s.released
}

// unref drops one reference and releases the RocksDB snapshot at zero. The
// caller holds e.mu shared.
func (s *snapshot) unref() {
	s.e.snapMu.Lock()
	s.refs--
	last := s.refs == 0 && !s.released
	if last {
		s.released = true
	}
	s.e.snapMu.Unlock()
	if last {
		s.e.untrack(s)
		s.free()
	}
}

// release is Engine.Close's, after every iterator was released.
func (s *snapshot) release() {
	if s.released {
		return
	}
	s.released = true
	s.free()
}

func (s *snapshot) free() {
	s.e.db.ReleaseSnapshot(s.snap)
	s.ro.Destroy()
}
