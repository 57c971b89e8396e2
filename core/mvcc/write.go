package mvcc

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/core/engine"
)

// writeTxn is one request's write in progress. All its changes share the
// revision begin+1 and are numbered by sub-revision in order; the revision
// only advances (end) when at least one change was made. Reads during the
// write see the earlier changes: the key index is updated at once, and the
// values not yet in the engine are served from pending.
type writeTxn struct {
	begin   int64
	pending []*mvccpb.KeyValue // by sub-revision; nil for tombstones
	events  []*mvccpb.Event
}

func (w *writeTxn) rev() int64 { return w.begin + 1 }

// readRev is the revision reads inside the write see: begin+1 once it has
// changed something, as etcd's write txn reads.
func (w *writeTxn) readRev() int64 {
	if len(w.pending) > 0 {
		return w.begin + 1
	}
	return w.begin
}

func (w *writeTxn) changed() bool { return len(w.pending) > 0 }

// beginWrite starts a write at the current revision.
func (s *Store) beginWrite() *writeTxn {
	w := &s.wtx
	clear(w.pending)
	w.pending = w.pending[:0]
	w.begin = s.rev
	w.events = nil
	s.w = w
	return w
}

// endWrite finishes the write: it advances the revision when something
// changed and returns the events.
func (s *Store) endWrite() []*mvccpb.Event {
	w := s.w
	s.w = nil
	if w.changed() {
		s.rev = w.rev()
	}
	ev := w.events
	w.events = nil
	clear(w.pending)
	w.pending = w.pending[:0]
	return ev
}

// readKV returns a fresh KeyValue holding the version at rev of the key
// indexed by ki (nil: unknown). Its byte slices are shared (with the
// engine's stored record or a copy of it) and must not be modified.
func (s *Store) readKV(ki *keyIndex, rev revision) *mvccpb.KeyValue {
	kv := new(mvccpb.KeyValue)
	s.readKVInto(ki, rev, kv)
	return kv
}

// readKVInto fills kv with the version at rev of the key indexed by ki
// (nil: unknown): from the write in progress, the key's cached record, or
// the engine, in that order.
func (s *Store) readKVInto(ki *keyIndex, rev revision, kv *mvccpb.KeyValue) {
	if w := s.w; w != nil && rev.main == w.rev() {
		p := w.pending[rev.sub]
		kv.Key, kv.Value, kv.Lease = p.Key, p.Value, p.Lease
		kv.CreateRevision, kv.ModRevision, kv.Version = p.CreateRevision, p.ModRevision, p.Version
		return
	}
	if rec := ki.cached(rev); rec != nil {
		decodeRecord(rec, kv)
		return
	}
	s.buf = appendRevKey(s.buf[:0], rev)
	v, ok, err := s.eng.Get(s.buf)
	if err != nil || !ok {
		panic(fmt.Sprintf("mvcc: revision %d.%d indexed but unreadable: ok=%v err=%v", rev.main, rev.sub, ok, err))
	}
	decodeRecord(v, kv)
}

// current returns the live version of key as the write sees it, or nil.
func (s *Store) current(ki *keyIndex, atRev int64) *mvccpb.KeyValue {
	if ki == nil {
		return nil
	}
	rev, ok := ki.at(atRev)
	if !ok {
		return nil
	}
	return s.readKV(ki, rev)
}

// ownedSetter is the optional engine.Batch extension that takes the
// caller's slices as the stored bytes instead of copying them (the memory
// engine has it). With it, a put's record is allocated once, here, and the
// key index can keep referring to it as the key's cached latest record.
type ownedSetter interface {
	// SetOwnedPair stores kv[:keyLen] = kv[keyLen:], taking kv itself.
	SetOwnedPair(kv []byte, keyLen int)
}

// ownedRecords returns b's ownedSetter when b keeps the records it is
// handed and counts no sizes (a size-counting wrapper's batch takes the
// copying path, whose sizes it knows).
func ownedRecords(b engine.Batch) (ownedSetter, bool) {
	o, ok := b.(ownedSetter)
	if !ok {
		return nil, false
	}
	if _, sized := b.(sizeKnownBatch); sized {
		return nil, false
	}
	return o, true
}

// recordSlab cuts small records for a batch that keeps the bytes it is
// handed (ownedRecords) out of shared slabs: one allocation per
// slabRecords records instead of one per record. A slab stays alive while
// any record cut from it does.
type recordSlab struct{ free []byte }

// slabRecords is how many records one slab holds.
const slabRecords = 64

// cut returns n bytes of the slab, capped at n.
func (s *recordSlab) cut(n int) []byte {
	if len(s.free) < n {
		s.free = make([]byte, slabRecords*n)
	}
	kv := s.free[:n:n]
	s.free = s.free[n:]
	return kv
}

// writeRecord adds the record of kv at rev to the batch and returns the
// stored record bytes when the engine took ownership of them, else nil.
func (s *Store) writeRecord(rev revision, kv *mvccpb.KeyValue, tomb bool) []byte {
	if o, ok := s.batch.(ownedSetter); ok && !tomb {
		const keyLen = 2 + 16
		b := make([]byte, 0, keyLen+recordSize(kv))
		b = appendRevKey(b, rev)
		b = appendRecord(b, kv, false)
		o.SetOwnedPair(b, keyLen)
		return b[keyLen:]
	}
	s.buf = appendRevKey(s.buf[:0], rev)
	n := len(s.buf)
	s.buf = appendRecord(s.buf, kv, tomb)
	setNew(s.batch, s.buf[:n], s.buf[n:]) // a revision is written once
	return nil
}

// sizeKnownBatch is the optional engine.Batch extension for writes whose
// effect on the engine's size the caller knows (net/server's SizedEngine
// has it): without it, a wrapper counting live bytes reads each written
// key's old value, an engine Get per key, which on RocksDB with 2M keys
// cost a put as much as all the rest.
type sizeKnownBatch interface {
	// SetNew stores key = value; key is in neither the engine nor the
	// batch.
	SetNew(key, value []byte)
	// DeleteSized deletes key, whose value is n bytes long.
	DeleteSized(key []byte, n int)
}

// setNew adds key = value, absent until now, to b.
func setNew(b engine.Batch, key, value []byte) {
	if k, ok := b.(sizeKnownBatch); ok {
		k.SetNew(key, value)
		return
	}
	b.Set(key, value)
}

// putKV writes kv (ModRevision set by the caller to w.rev()) as the next
// change, indexes it, moves its lease attachment from oldLease, and
// records the PUT event ev (filled here, without PrevKv).
//
// When the engine keeps the record itself, kv's key and value are
// re-pointed into it: the key index of a new key borrowed the request's key
// until now (getOrBorrow), the event outlives the apply, and the request's
// bytes may be a slice of a raft entry's data (UnmarshalRequest), which
// the event would otherwise keep alive, with the rest of the entries
// sharing its buffer, for as long as a watcher holds it.
func (s *Store) putKV(w *writeTxn, ki *keyIndex, kv *mvccpb.KeyValue, oldLease int64, ev *mvccpb.Event) {
	rev := revision{main: w.rev(), sub: int64(len(w.pending))}
	rec := s.writeRecord(rev, kv, false)
	ki.put(rev, rec, len(rec)-len(kv.Value)-len(kv.Key))
	if rec != nil {
		kv.Key = ki.keyBytes()
		if len(kv.Value) > 0 {
			kv.Value = rec[len(rec)-len(kv.Value) : len(rec) : len(rec)]
		}
	}
	w.pending = append(w.pending, kv)
	if oldLease != kv.Lease {
		s.detach(oldLease, kv.Key)
		s.attach(kv.Lease, kv.Key)
	}
	ev.Type, ev.Kv = mvccpb.PUT, kv
	w.events = append(w.events, ev)
}

// EventPrevKV returns the version an event of the latest Apply replaced or
// deleted, or nil when a put created the key. Events carry none: it is read
// here (from the engine, on RocksDB), as etcd's watch reads it, so that only
// watchers asking for prev_kv pay for it. Call it on the driving goroutine
// before the next Apply; the result is shared and read-only.
func (s *Store) EventPrevKV(ev *mvccpb.Event) *mvccpb.KeyValue {
	if ev.PrevKv != nil {
		return ev.PrevKv
	}
	ki := s.idx.get(ev.Kv.Key)
	if ki == nil {
		return nil
	}
	r, ok := ki.replacedBy(ev.Kv.ModRevision, ev.Type == mvccpb.DELETE)
	if !ok {
		return nil
	}
	return s.readKV(ki, r)
}

// deleteKey writes a tombstone for the live key ki as the next change,
// detaches its lease and records the DELETE event, without PrevKv: the
// version it removed is not read (EventPrevKV reads it for watchers).
func (s *Store) deleteKey(w *writeTxn, ki *keyIndex) {
	rev := revision{main: w.rev(), sub: int64(len(w.pending))}
	ev := &mvccpb.Event{Type: mvccpb.DELETE}
	if revs := ki.revs(); len(revs) > 0 && revs[len(revs)-1].main == rev.main {
		// The key was put earlier in this revision (the one case
		// EventPrevKV cannot tell apart): the version it removes is
		// pending, no read needed.
		ev.PrevKv = w.pending[revs[len(revs)-1].plain().sub]
	}
	tomb := &mvccpb.KeyValue{Key: ki.keyBytes(), ModRevision: rev.main}
	ev.Kv = tomb
	s.writeRecord(rev, tomb, true)
	ki.tombstone(rev)
	w.pending = append(w.pending, nil)
	s.detach(s.leaseOf(ki.keyBytes()), ki.keyBytes())
	w.events = append(w.events, ev)
}
