package sim

import (
	"math/rand/v2"

	"metastore/core/engine"
	"metastore/engines/memory"
)

// durableEngine is a durable engine for the simulator, standing in for
// RocksDB: its contents outlive a process crash, the way a real engine's
// own log does. Each Write is atomic; writes since the engine last flushed
// are kept on a crash only as a prefix (a torn tail of batches), never out
// of order. Every write carries the virtual time of its step's cursor: a
// crash at time T loses every write issued after T (it never happened,
// since an fsync before it had not returned). The engine flushes only
// between steps, every few steps.
//
// It is what makes canary C7 catchable: the applied index written apart
// from the data can survive a crash without the data, or the other way
// round, and a restart then applies an entry twice.
type durableEngine struct {
	*memory.Engine
	base     engine.Snapshot // the state as of the last flush
	unsynced []timedBatch    // batches written since
	rng      *rand.Rand
	host     *Host
	flushIn  int
}

type timedBatch struct {
	ops []batchOp
	at  int64 // the writer's step cursor
}

type batchOp struct {
	key, value []byte
	del        bool
}

func newDurableEngine(rng *rand.Rand, host *Host) *durableEngine {
	e := &durableEngine{Engine: memory.New(), rng: rng, host: host}
	e.base = e.Engine.Snapshot()
	e.flushIn = 1 + rng.IntN(32)
	return e
}

func (e *durableEngine) Durable() bool { return true }

func (e *durableEngine) NewBatch() engine.Batch { return &recBatch{inner: e.Engine.NewBatch()} }

func (e *durableEngine) Write(b engine.Batch) error {
	rb := b.(*recBatch)
	if err := e.Engine.Write(rb.inner); err != nil {
		return err
	}
	e.unsynced = append(e.unsynced, timedBatch{ops: rb.ops, at: e.host.Cursor()})
	rb.ops = nil
	return nil
}

// stepDone is called when the node's busy window ends: every write so far
// really happened, and now and then the engine flushes them.
func (e *durableEngine) stepDone() {
	if e.flushIn--; e.flushIn <= 0 {
		e.flush()
	}
}

// Sync is engine.Syncer: an engine-held snapshot syncs the engine before it
// trusts it with the log before its index. Every write so far survives any
// later crash (the modeled flush, at once: the real engine's sync is not
// on the simulated disk's clock).
func (e *durableEngine) Sync() error {
	e.base.Close()
	e.base = e.Engine.Snapshot()
	e.unsynced = nil
	return nil
}

func (e *durableEngine) flush() {
	_ = e.Sync()
	e.flushIn = 1 + e.rng.IntN(32)
}

// crash returns the engine a restarted process finds after a crash at
// virtual time at: the flushed state plus a prefix of the later batches
// written by then, each surviving with probability keep.
// It reports whether any batch was lost.
func (e *durableEngine) crash(keep float64, at int64) (crashEngine, bool) {
	next := &durableEngine{Engine: memory.New(), rng: e.rng, host: e.host}
	b := next.Engine.NewBatch()
	it := e.base.NewIter(nil, nil)
	for ok := it.First(); ok; ok = it.Next() {
		b.Set(it.Key(), it.Value())
	}
	it.Close()
	lost := false
	for _, tb := range e.unsynced {
		if tb.at > at || !chance(e.rng, keep) {
			lost = true
			break
		}
		for _, op := range tb.ops {
			if op.del {
				b.Delete(op.key)
			} else {
				b.Set(op.key, op.value)
			}
		}
	}
	if err := next.Engine.Write(b); err != nil {
		panic(err) // a fresh memory engine does not fail
	}
	next.base = next.Engine.Snapshot()
	next.flushIn = 1 + e.rng.IntN(32)
	return next, lost
}

// recBatch records a batch's operations so a crash can replay a prefix.
type recBatch struct {
	inner engine.Batch
	ops   []batchOp
}

func (b *recBatch) Set(key, value []byte) {
	b.inner.Set(key, value)
	b.ops = append(b.ops, batchOp{key: append([]byte(nil), key...), value: append([]byte(nil), value...)})
}

func (b *recBatch) Delete(key []byte) {
	b.inner.Delete(key)
	b.ops = append(b.ops, batchOp{key: append([]byte(nil), key...), del: true})
}

func (b *recBatch) Len() int { return b.inner.Len() }

func (b *recBatch) Reset() {
	b.inner.Reset()
	b.ops = nil
}
