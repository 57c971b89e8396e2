package memory

import (
	"sync/atomic"

	"metastore/core/engine"
)

// snapshot is a frozen clone of the engine's tree. The clone is never
// written, so any number of goroutines may read it without locking.
type snapshot struct {
	tree   *tree // nil when taken from a closed engine
	closed atomic.Bool
}

// Get returns a copy of the value at key in the snapshot.
func (s *snapshot) Get(key []byte) ([]byte, bool, error) {
	if s.tree == nil || s.closed.Load() {
		return nil, false, engine.ErrClosed
	}
	v, ok := get(s.tree, key)
	return v, ok, nil
}

// NewIter iterates over [lower, upper) of the snapshot. It is empty once the
// snapshot is closed.
func (s *snapshot) NewIter(lower, upper []byte) engine.Iterator {
	if s.closed.Load() {
		return newIter(nil, lower, upper)
	}
	// Iterators only read, so they share the frozen tree.
	return newIter(s.tree, lower, upper)
}

// Close releases the snapshot. Iterators already open on it stay valid.
func (s *snapshot) Close() error {
	if s.closed.Swap(true) {
		return engine.ErrClosed
	}
	return nil
}
