package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"metastore/core/engine"
)

// EngineStore opens the real durable engines (RocksDB) a run's machines
// use. The simulator never touches the file system itself: a test injects
// one (engines/rocksdb.SimStore, on a per-seed temporary directory).
type EngineStore interface {
	// Open opens the engine called name, holding what it held when it was
	// last closed (empty the first time).
	Open(name string) (engine.Engine, error)
}

// crashEngine is a durable engine in the simulator: what it held survives
// a process crash, except the batches the crash model takes from it.
type crashEngine interface {
	engine.Engine
	// stepDone is called when the node's busy window ends.
	stepDone()
	// crash returns the engine a restarted process finds after a crash at
	// virtual time at, and whether any batch was lost.
	crash(keep float64, at int64) (crashEngine, bool)
}

var (
	_ crashEngine   = (*durableEngine)(nil)
	_ crashEngine   = (*realEngine)(nil)
	_ engine.Syncer = (*durableEngine)(nil)
	_ engine.Syncer = (*realEngine)(nil)

	_ engine.WriteFlusher = (*realEngine)(nil)
)

// realEngine runs a real durable engine (RocksDB) under the same crash
// model as durableEngine: a crash keeps the batches written before the last
// modeled flush, then a random prefix of the later ones, never a batch
// issued after the crash instant (after an fsync that had not returned).
//
// The real engine keeps every write (its WAL is in the page cache, which a
// process crash does not lose), so the model's losses are made by undoing:
// each Write first reads the pre-images of the keys it changes, and a crash
// writes back the pre-images of the lost batches, newest first, then closes
// the database and opens it again. What the replica then finds went through
// RocksDB's own close and WAL recovery.
//
// Faults of the simulated Disk (latency, fsync errors, full disk, torn
// records) do not reach RocksDB, whose files are real ones: its fsync
// behaviour is the crash model above (a machine crash that loses a suffix of
// unsynced batches, whole batches only), and the raft WAL and snapshots,
// still on the simulated Disk, get every disk fault.
type realEngine struct {
	engine.Engine
	store    EngineStore
	name     string
	unsynced []undoBatch // batches since the last modeled flush
	rng      *rand.Rand
	host     *Host
	flushIn  int
}

// undoBatch restores the state before one batch.
type undoBatch struct {
	ops []batchOp // pre-images: value, or del for a key that was absent
	at  int64     // the writer's step cursor
}

func newRealEngine(store EngineStore, name string, rng *rand.Rand, host *Host) *realEngine {
	e := &realEngine{store: store, name: name, rng: rng, host: host}
	e.open()
	e.flushIn = 1 + rng.IntN(32)
	return e
}

func (e *realEngine) open() {
	inner, err := e.store.Open(e.name)
	if err != nil {
		// The test's own directory failed: not a finding about the replica.
		panic(fmt.Sprintf("sim: open engine %s: %v", e.name, err))
	}
	e.Engine = inner
}

func (e *realEngine) Durable() bool { return true }

func (e *realEngine) NewBatch() engine.Batch { return &recBatch{inner: e.Engine.NewBatch()} }

func (e *realEngine) Write(b engine.Batch) error {
	rb := b.(*recBatch)
	undo := undoBatch{at: e.host.Cursor()}
	seen := map[string]bool{}
	for _, op := range rb.ops {
		if seen[string(op.key)] {
			continue // the first pre-image in the batch is the one to restore
		}
		seen[string(op.key)] = true
		v, ok, err := e.Engine.Get(op.key)
		if err != nil {
			return err
		}
		undo.ops = append(undo.ops, batchOp{key: op.key, value: v, del: !ok})
	}
	if err := e.Engine.Write(rb.inner); err != nil {
		return err
	}
	e.unsynced = append(e.unsynced, undo)
	rb.ops = nil
	return nil
}

// Sync is engine.Syncer: every write so far survives any later crash (the
// modeled flush), and the real engine syncs its WAL too, so the path the
// server takes runs here.
func (e *realEngine) Sync() error {
	e.unsynced = nil
	if s, ok := e.Engine.(engine.Syncer); ok {
		return s.Sync()
	}
	return nil
}

// FlushWrites passes engine.WriteFlusher through, so that runs on the real
// engine flush it as the server does (every 64 KiB of entries, every tick). The crash model
// needs nothing more: a crash may take any batch since the last modeled
// flush, which covers a process crash taking the batches not yet flushed.
func (e *realEngine) FlushWrites() error {
	if f, ok := e.Engine.(engine.WriteFlusher); ok {
		return f.FlushWrites()
	}
	return nil
}

func (e *realEngine) stepDone() {
	if e.flushIn--; e.flushIn <= 0 {
		e.unsynced = nil
		e.flushIn = 1 + e.rng.IntN(32)
	}
}

// crash draws the surviving prefix exactly as durableEngine does, undoes
// the rest and reopens the database.
func (e *realEngine) crash(keep float64, at int64) (crashEngine, bool) {
	kept := len(e.unsynced)
	for i, ub := range e.unsynced {
		if ub.at > at || !chance(e.rng, keep) {
			kept = i
			break
		}
	}
	lost := e.unsynced[kept:]
	if len(lost) > 0 {
		b := e.Engine.NewBatch()
		for i := len(lost) - 1; i >= 0; i-- {
			for _, op := range lost[i].ops {
				if op.del {
					b.Delete(op.key)
				} else {
					b.Set(op.key, op.value)
				}
			}
		}
		if err := e.Engine.Write(b); err != nil {
			panic(fmt.Sprintf("sim: engine %s: undo lost batches: %v", e.name, err))
		}
	}
	if err := e.Engine.Close(); err != nil {
		panic(fmt.Sprintf("sim: close engine %s: %v", e.name, err))
	}
	next := &realEngine{store: e.store, name: e.name, rng: e.rng, host: e.host}
	next.open()
	next.flushIn = 1 + e.rng.IntN(32)
	return next, len(lost) > 0
}

// close releases the real database at the end of a run.
func (e *realEngine) close() { _ = e.Engine.Close() }

// newDurableEngine makes node n's durable engine: a real one when the run
// uses one, else the in-memory stand-in.
func (d *driver) newDurableEngine(n *node) crashEngine {
	if !d.s.realEngine {
		return newDurableEngine(Split(n.rng), n.host)
	}
	// Machine IDs are never reused within a run, so the name is the node's.
	return newRealEngine(d.s.opts.Engines, fmt.Sprintf("node%d", n.id), Split(n.rng), n.host)
}

// closeEngines closes the real engines at the end of a run, in node order.
func (d *driver) closeEngines() {
	ids := make([]uint64, 0, len(d.nodes))
	for id := range d.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if e, ok := d.nodes[id].engine.(*realEngine); ok {
			e.close()
		}
	}
}
