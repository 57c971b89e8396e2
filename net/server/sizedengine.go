package server

import (
	"fmt"
	"sync/atomic"

	"metastore/core/engine"
)

// SizedEngine wraps an engine and reports the byte size of its live pairs
// (keys plus values), for the space quota and Status's dbSize. An engine
// that counts them itself (liveByteCounter: the memory engine, from the
// items its tree hands back; RocksDB, from its own size figures, which
// count deleted versions until compaction frees them, as etcd's file size
// does) is passed through untouched; for any other the wrapper keeps the
// count on every Write, reading only the keys whose replaced size the
// store's batch does not tell it.
//
// Size is safe from any goroutine; the engine methods keep the inner
// engine's concurrency contract.
type SizedEngine struct {
	engine.Engine
	counter liveByteCounter // nil: the wrapper counts
	size    atomic.Int64
}

var _ engine.Engine = (*SizedEngine)(nil)

// liveByteCounter is the optional engine extension SizedEngine defers to.
type liveByteCounter interface {
	LiveBytes() int64
}

// NewSizedEngine wraps e, counting what it already holds.
func NewSizedEngine(e engine.Engine) *SizedEngine {
	s := &SizedEngine{Engine: e}
	if c, ok := e.(liveByteCounter); ok {
		s.counter = c
		return s
	}
	it := e.NewIter(nil, nil)
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n += int64(len(it.Key()) + len(it.Value()))
	}
	it.Close()
	s.size.Store(n)
	return s
}

// Sync passes engine.Syncer through: the replica leaves its snapshots'
// state to a durable engine only when it can sync it (core/snapshot.go).
// An inner engine that cannot sync says so; the replica asks only a
// durable one, and every durable engine here (RocksDB) can.
func (s *SizedEngine) Sync() error {
	if sy, ok := s.Engine.(engine.Syncer); ok {
		return sy.Sync()
	}
	return fmt.Errorf("server: engine %T cannot sync", s.Engine)
}

// FlushWrites passes engine.WriteFlusher through; an inner engine without
// it holds no writes in the process, so there is nothing to flush.
func (s *SizedEngine) FlushWrites() error {
	if f, ok := s.Engine.(engine.WriteFlusher); ok {
		return f.FlushWrites()
	}
	return nil
}

// Size is the byte size of the live keys and values.
func (s *SizedEngine) Size() int64 {
	if s.counter != nil {
		return s.counter.LiveBytes()
	}
	return s.size.Load()
}

// NewBatch returns the engine's own batch when the engine counts its bytes,
// else a batch that remembers its keys and value sizes. When the
// inner engine's batch can take ownership of a caller's bytes
// (SetOwnedPair, as the memory engine's can), so can this one: the store
// then keeps one copy of each record, shared with its key index, instead of
// a record the engine copied and a key index that copied the key again.
func (s *SizedEngine) NewBatch() engine.Batch {
	inner := s.Engine.NewBatch()
	if s.counter != nil {
		return inner // Write passes it through: the engine counts
	}
	if o, ok := inner.(ownedPairSetter); ok {
		return &sizedOwnedBatch{sizedBatch{inner: inner}, o}
	}
	return &sizedBatch{inner: inner}
}

// ownedPairSetter is the optional engine.Batch extension of the memory
// engine (see core/mvcc's writeRecord).
type ownedPairSetter interface {
	SetOwnedPair(kv []byte, keyLen int)
}

// Write applies b and moves Size by the difference it made.
func (s *SizedEngine) Write(b engine.Batch) error {
	var sb *sizedBatch
	switch b := b.(type) {
	case *sizedBatch:
		sb = b
	case *sizedOwnedBatch:
		sb = &b.sizedBatch
	default:
		return s.Engine.Write(b)
	}
	var delta int64
	seen := make(map[string]int, len(sb.ops)) // key -> value size within the batch, -1 deleted
	for _, op := range sb.ops {
		old, had := seen[op.key]
		if !had && op.known {
			old, had = op.old, true
		}
		if !had {
			v, ok, err := s.Engine.Get([]byte(op.key))
			if err != nil {
				return err
			}
			old = -1
			if ok {
				old = len(v)
			}
		}
		if old >= 0 {
			delta -= int64(len(op.key) + old)
		}
		if op.valueBytes >= 0 {
			delta += int64(len(op.key) + op.valueBytes)
		}
		seen[op.key] = op.valueBytes
	}
	if err := s.Engine.Write(sb.inner); err != nil {
		return err
	}
	s.size.Add(delta)
	return nil
}

type sizedOp struct {
	key        string
	valueBytes int  // -1: delete
	known      bool // old holds the value size before the batch, -1 absent
	old        int
}

type sizedBatch struct {
	inner engine.Batch
	ops   []sizedOp
}

func (b *sizedBatch) Set(key, value []byte) {
	b.inner.Set(key, value)
	b.ops = append(b.ops, sizedOp{key: string(key), valueBytes: len(value)})
}

// sizedOwnedBatch is a sizedBatch over an inner batch with SetOwnedPair.
type sizedOwnedBatch struct {
	sizedBatch
	owned ownedPairSetter
}

// SetOwnedPair records kv[:keyLen] = kv[keyLen:], handing kv to the inner
// batch.
func (b *sizedOwnedBatch) SetOwnedPair(kv []byte, keyLen int) {
	b.owned.SetOwnedPair(kv, keyLen)
	b.ops = append(b.ops, sizedOp{key: string(kv[:keyLen]), valueBytes: len(kv) - keyLen})
}

func (b *sizedBatch) Delete(key []byte) {
	b.inner.Delete(key)
	b.ops = append(b.ops, sizedOp{key: string(key), valueBytes: -1})
}

// SetNew is Set of a key the engine does not hold, as the store says of
// its revision records: Write then counts it without a Get.
func (b *sizedBatch) SetNew(key, value []byte) {
	b.inner.Set(key, value)
	b.ops = append(b.ops, sizedOp{key: string(key), valueBytes: len(value), known: true, old: -1})
}

// DeleteSized is Delete of a key whose value is n bytes long.
func (b *sizedBatch) DeleteSized(key []byte, n int) {
	b.inner.Delete(key)
	b.ops = append(b.ops, sizedOp{key: string(key), valueBytes: -1, known: true, old: n})
}

func (b *sizedBatch) Len() int { return b.inner.Len() }

func (b *sizedBatch) Reset() {
	b.inner.Reset()
	clear(b.ops)
	b.ops = b.ops[:0]
}
