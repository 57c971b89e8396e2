package rocksdb

import (
	"bytes"
	"fmt"

	"github.com/linxGnu/grocksdb"

	"metastore/core/engine"
)

// iter is an engine.Iterator over a RocksDB iterator. Key and Value are
// copied out of C memory into buffers the iterator reuses, lazily and once
// per position, so a caller that reads only keys copies no values, and a
// caller that keeps a slice past the next move sees it change (the
// contract forbids that) rather than freed memory.
type iter struct {
	e    *Engine   // nil: an empty iterator (closed engine or empty range)
	snap *snapshot // the snapshot it reads, or nil
	it   *grocksdb.Iterator
	ro   *grocksdb.ReadOptions

	lower, upper []byte // private copies; lower is never nil, upper nil = unbounded

	valid        bool
	pos          *position // where it stands, read with the move; its own allocation, since cgo may be handed no Go memory holding Go pointers
	key, value   []byte
	haveK, haveV bool
	err          error
	closed, gone bool // closed by its owner; gone: released by Engine.Close
}

var _ engine.Iterator = (*iter)(nil)

// move makes one move (to key, for moveSeek) under the engine's shared
// lock and records the outcome.
func (it *iter) move(m iterMove, key []byte) bool {
	it.valid, it.haveK, it.haveV = false, false, false
	if it.e == nil || it.closed {
		return false
	}
	it.e.mu.RLock()
	defer it.e.mu.RUnlock()
	if it.gone {
		it.err = engine.ErrClosed
		return false
	}
	step(it.it, m, key, it.pos)
	it.valid = it.pos.isValid()
	if !it.valid {
		if err := it.it.Err(); err != nil {
			it.err = fmt.Errorf("rocksdb: iterator: %w", err)
		}
	}
	return it.valid
}

func (it *iter) First() bool { return it.move(moveFirst, nil) }

func (it *iter) Last() bool { return it.move(moveLast, nil) }

// SeekGE positions at the first key >= key within the bounds. A key below
// the lower bound seeks the lower bound (RocksDB leaves that case to the
// caller).
func (it *iter) SeekGE(key []byte) bool {
	if bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	return it.move(moveSeek, key)
}

// Next and Prev on an invalid iterator report the end: RocksDB requires a
// valid iterator for both.
func (it *iter) Next() bool {
	if !it.valid {
		return false
	}
	return it.move(moveNext, nil)
}

func (it *iter) Prev() bool {
	if !it.valid {
		return false
	}
	return it.move(movePrev, nil)
}

func (it *iter) Valid() bool { return it.valid }

// Key returns the current key, or nil when invalid. It is valid until the
// next move.
func (it *iter) Key() []byte {
	if !it.valid {
		return nil
	}
	if !it.haveK {
		it.e.mu.RLock()
		defer it.e.mu.RUnlock()
		if it.gone { // the engine closed under a positioned iterator
			return nil
		}
		it.key = append(it.key[:0], it.pos.keyBytes()...)
		it.haveK = true
	}
	return it.key
}

// Value returns the current value, or nil when invalid; a present empty
// value is non-nil. It is valid until the next move.
func (it *iter) Value() []byte {
	if !it.valid {
		return nil
	}
	if !it.haveV {
		it.e.mu.RLock()
		defer it.e.mu.RUnlock()
		if it.gone {
			return nil
		}
		it.value = append(it.value[:0], it.pos.valueBytes()...)
		if it.value == nil {
			it.value = []byte{}
		}
		it.haveV = true
	}
	return it.value
}

// Error reports why the iterator stopped early: a RocksDB read error
// (corruption, I/O), or engine.ErrClosed when the engine closed under it.
// It is nil after a walk that simply reached the end.
func (it *iter) Error() error { return it.err }

// Close releases the RocksDB iterator. It returns the iterator's error, if
// any, so a caller that only checks Close still learns of a failed walk.
func (it *iter) Close() error {
	if it.closed {
		return it.err
	}
	it.closed, it.valid = true, false
	if it.e != nil {
		it.e.mu.RLock()
		if !it.gone {
			it.e.untrack(it)
			it.destroy()
		}
		it.e.mu.RUnlock()
	}
	return it.err
}

// release is Engine.Close's: the iterator outlived the engine.
func (it *iter) release() {
	it.gone = true
	it.destroy()
}

func (it *iter) destroy() {
	it.it.Close()
	it.ro.Destroy()
	if it.snap != nil {
		it.snap.unref()
	}
}
