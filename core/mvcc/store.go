package mvcc

import (
	"encoding/binary"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/core/auth"
	"metastore/core/engine"
)

// Store is the MVCC state machine over an engine. It is not safe for
// concurrent use: the replica's single owner calls it.
//
// Engine errors while applying are fatal (Apply panics): the in-memory
// indexes would no longer match the engine, and a replica that cannot
// persist must stop rather than diverge.
type Store struct {
	// NoDedup disables request de-duplication (canary C5): a re-proposed
	// request ID is applied again. A deliberate bug for the simulator.
	NoDedup bool
	// SplitAppliedIndex writes the applied index and the dedup record in a
	// second engine batch after the data (canary C7), so a crash between
	// the two leaves data applied but not recorded as applied. A deliberate
	// bug for the simulator; never set it in production.
	SplitAppliedIndex bool
	// NoAuthCheck applies writes without checking the user's permissions
	// (canary C8). A deliberate bug for the simulator.
	NoAuthCheck bool
	// HistoryAtCompactRev lets Events start at the compact revision
	// (canary C9), whose deletions compaction removed: a resumed history
	// silently misses them instead of being refused as compacted.
	HistoryAtCompactRev bool
	// OldReadsSkipTombstones makes a Range at an old revision look through
	// deletions (canary C10): a key read at a revision when it was deleted
	// shows the version the deletion ended. Reads at the current revision
	// stay right, so only reads at old revisions can catch it.
	OldReadsSkipTombstones bool
	// CompactRevUnreadable refuses a read at the compact revision itself
	// as compacted (canary C11), where etcd refuses only below it.
	CompactRevUnreadable bool

	eng     engine.Engine
	idx     *index
	rev     int64  // current revision; 1 for an empty store
	compact int64  // last compacted revision; 0 when never
	applied uint64 // raft index of the last applied entry
	leases  map[int64]*lease
	members map[uint64]Member
	alarms  map[Alarm]struct{}
	dedup   *dedupLog
	auth    *auth.Store // users, roles, enabled: under auth.Prefix

	batch engine.Batch // reused for every write
	meta  engine.Batch // second batch for SplitAppliedIndex
	buf   []byte       // scratch for encodings; engines copy on Set
	// appliedSlab holds applied-index records for a batch that keeps
	// them (see setApplied).
	appliedSlab recordSlab
	// grouping is set between BeginApplyGroup and EndApplyGroup on an
	// engine that does not survive a restart; appliedBehind then says that
	// the engine's applied-index record is older than applied.
	grouping      bool
	appliedBehind bool
	w             *writeTxn // the write in progress, nil between Applies
	wtx           writeTxn  // reused storage behind w

	// keyLease maps each live key attached to a granted lease to it
	// (see attach).
	keyLease map[string]int64
}

// Open loads the store from eng (empty engine: a fresh store at revision 1
// with applied index 0).
func Open(eng engine.Engine) (*Store, error) {
	s := &Store{eng: eng}
	s.batch = eng.NewBatch()
	s.meta = eng.NewBatch()
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load rebuilds every in-memory structure from the engine.
func (s *Store) load() error {
	s.idx = newIndex()
	s.rev, s.compact, s.applied = 1, 0, 0
	s.appliedBehind = false
	s.leases = make(map[int64]*lease)
	s.keyLease = make(map[string]int64)
	s.members = make(map[uint64]Member)
	s.alarms = make(map[Alarm]struct{})
	s.dedup = newDedupLog(dedupWindow)

	if v, ok, err := s.eng.Get(keyRev); err != nil {
		return fmt.Errorf("mvcc: load: %w", err)
	} else if ok {
		s.rev = int64(binary.BigEndian.Uint64(v))
	}
	if v, ok, err := s.eng.Get(keyCompact); err != nil {
		return fmt.Errorf("mvcc: load: %w", err)
	} else if ok {
		s.compact = int64(binary.BigEndian.Uint64(v))
	}
	if v, ok, err := s.eng.Get(keyApplied); err != nil {
		return fmt.Errorf("mvcc: load: %w", err)
	} else if ok {
		s.applied = binary.BigEndian.Uint64(v)
	}
	if err := s.loadLeases(); err != nil {
		return err
	}
	if err := s.loadIndex(); err != nil {
		return err
	}
	if err := s.loadMembers(); err != nil {
		return err
	}
	if err := s.loadAlarms(); err != nil {
		return err
	}
	var err error
	if s.auth, err = auth.Load(s.eng); err != nil {
		return err
	}
	return s.loadDedup()
}

// loadIndex replays the history in revision order into the key index and
// attaches each live key to its lease.
func (s *Store) loadIndex() error {
	it := s.eng.NewIter(prefixRev, prefixEnd(prefixRev))
	defer it.Close()
	liveLease := make(map[string]int64)
	sv, stable := it.(stableValues)
	stable = stable && sv.StableValues()
	var kv mvccpb.KeyValue
	for ok := it.First(); ok; ok = it.Next() {
		rev := parseRevKey(it.Key())
		rec := it.Value()
		tomb := decodeRecord(rec, &kv)
		ki := s.idx.getOrCreate(kv.Key)
		if !tomb && !ki.live() && kv.CreateRevision != rev.main {
			// Compaction dropped the generation's creating put.
			ki.putGhost(kv.CreateRevision, kv.Version-1)
		}
		if tomb {
			ki.tombstone(rev)
			delete(liveLease, string(kv.Key))
		} else {
			if stable {
				// The index caches and shares the engine's record, as
				// after a put.
				ki.put(rev, rec, len(rec)-len(kv.Value)-len(kv.Key))
			} else {
				ki.put(rev, nil, 0)
			}
			if kv.Lease != 0 {
				liveLease[string(kv.Key)] = kv.Lease
			} else {
				delete(liveLease, string(kv.Key))
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("mvcc: load index: %w", err)
	}
	if it.Last() {
		s.rev = max(s.rev, parseRevKey(it.Key()).main)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("mvcc: load index: %w", err)
	}
	for k, id := range liveLease {
		if l := s.leases[id]; l != nil {
			l.keys[k] = struct{}{}
			s.keyLease[k] = id
		}
	}
	return nil
}

// stableValues is an optional engine.Iterator extension: StableValues
// reports that Value returns the engine's stored bytes, which stay valid
// and unchanged for as long as anyone refers to them (the memory engine's
// do). loadIndex then lets the key index share each key's newest record,
// as a put does, instead of copying the key and reading the record from
// the engine later.
type stableValues interface {
	StableValues() bool
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Apply executes one committed request at raft index. The same sequence of
// (index, request) gives the same state and Hash on every replica. The data,
// the applied index and the request ID's de-duplication record are written
// in one engine batch (inside an apply group on a memory engine, the
// applied index waits for EndApplyGroup).
//
// The caller must not pass an index at or below AppliedIndex (replay is the
// replica's to skip). Resp and Events may share messages and may alias the
// request's byte slices: treat them as read-only.
func (s *Store) Apply(index uint64, req *pb.InternalRaftRequest) Result {
	id := req.GetHeader().GetID()
	dedup := id != 0 && !s.NoDedup
	if dedup && s.dedup.has(id) {
		s.commit(index, 0)
		return Result{Duplicate: true}
	}
	res := s.dispatch(index, req)
	if !dedup {
		id = 0
	}
	s.commit(index, id)
	return res
}

// dispatch runs req, leaving its data writes in s.batch.
func (s *Store) dispatch(index uint64, req *pb.InternalRaftRequest) Result {
	if err := s.checkAuth(req); err != nil {
		return Result{Err: err}
	}
	if addsData(req) && s.spaceExhausted() {
		// etcd's capped applier: a write proposed before NOSPACE was
		// raised is refused at apply too, identically on every member.
		return Result{Err: ErrNoSpace}
	}
	switch {
	case req.Put != nil:
		return s.applyPut(req.Put)
	case req.DeleteRange != nil:
		return s.applyDeleteRange(req.DeleteRange)
	case req.Txn != nil:
		return s.applyTxn(req.Txn)
	case req.Range != nil:
		if err := validateRange(req.Range); err != nil {
			return Result{Err: err}
		}
		resp, err := s.Range(req.Range)
		if err != nil {
			return Result{Err: err}
		}
		return Result{Resp: resp}
	case req.Compaction != nil:
		return s.applyCompaction(req.Compaction)
	case req.LeaseGrant != nil:
		return s.applyLeaseGrant(index, req.LeaseGrant)
	case req.LeaseRevoke != nil:
		return s.applyLeaseRevoke(req.LeaseRevoke)
	case req.LeaseCheckpoint != nil:
		return s.applyLeaseCheckpoint(req.LeaseCheckpoint)
	case req.Alarm != nil:
		return s.applyAlarm(req.Alarm)
	case auth.IsAuth(req):
		resp, err := s.auth.Apply(index, req, s.batch)
		return Result{Resp: resp, Err: err}
	default:
		return Result{Err: ErrUnsupported}
	}
}

// commit writes the pending data batch together with the applied index and,
// when id != 0, the request's dedup record.
func (s *Store) commit(index uint64, id uint64) {
	meta := s.batch
	if s.SplitAppliedIndex {
		s.write(s.batch)
		meta = s.meta
	}
	if s.grouping && !s.SplitAppliedIndex {
		s.appliedBehind = true
	} else {
		s.setApplied(meta, index)
	}
	if id != 0 {
		s.dedup.add(meta, id, index)
	}
	s.write(meta)
	s.applied = index
}

// write applies b to the engine and resets it; an engine failure is fatal.
func (s *Store) write(b engine.Batch) {
	if b.Len() == 0 {
		return
	}
	if err := s.eng.Write(b); err != nil {
		panic(fmt.Sprintf("mvcc: engine write failed: %v", err))
	}
	b.Reset()
}

// ApplyNoop records index as applied for entries that carry no request.
func (s *Store) ApplyNoop(index uint64) error {
	return s.writeMeta(index, nil)
}

// writeMeta writes the applied index, plus whatever fill adds, in one batch.
func (s *Store) writeMeta(index uint64, fill func(engine.Batch)) error {
	b := s.batch
	if fill != nil {
		fill(b)
	}
	s.setApplied(b, index)
	if err := s.eng.Write(b); err != nil {
		b.Reset()
		return fmt.Errorf("mvcc: %w", err)
	}
	b.Reset()
	s.applied = index
	s.appliedBehind = false
	return nil
}

// BeginApplyGroup starts a group of Apply calls that EndApplyGroup ends.
// On an engine that does not survive a restart (the memory engine: the
// replica rebuilds it from the raft snapshot and the WAL), Apply inside a
// group leaves the applied-index record out of its batch and EndApplyGroup
// writes it once for the whole group: one engine record replaced per group
// of entries instead of one per entry. Until then the engine's applied
// index is behind AppliedIndex, so nothing may freeze or read the engine's
// applied index (an engine snapshot, Open on the same engine) inside a
// group; InApplyGroup tells. On a durable engine a group changes nothing:
// each entry's batch carries its applied index, so that a crash can never
// leave data applied but not recorded as applied.
func (s *Store) BeginApplyGroup() { s.grouping = !s.eng.Durable() }

// EndApplyGroup ends the group BeginApplyGroup started, writing the
// applied index if the group's applies left it behind.
func (s *Store) EndApplyGroup() error {
	s.grouping = false
	if !s.appliedBehind {
		return nil
	}
	return s.writeMeta(s.applied, nil)
}

// InApplyGroup reports whether the engine's applied index may be behind
// AppliedIndex (see BeginApplyGroup).
func (s *Store) InApplyGroup() bool { return s.grouping }

// setApplied records index as the applied index into b.
func (s *Store) setApplied(b engine.Batch, index uint64) {
	o, ok := ownedRecords(b)
	if !ok {
		s.buf = binary.BigEndian.AppendUint64(s.buf[:0], index)
		b.Set(keyApplied, s.buf)
		return
	}
	// Every apply replaces the record, so the slabs keep at most one slab
	// alive beyond the engine's current record (and what snapshots still
	// hold).
	kv := s.appliedSlab.cut(len(keyApplied) + 8)
	copy(kv, keyApplied)
	binary.BigEndian.PutUint64(kv[len(keyApplied):], index)
	o.SetOwnedPair(kv, len(keyApplied))
}

// AppliedIndex is the raft index of the last applied entry.
func (s *Store) AppliedIndex() uint64 { return s.applied }

// Rev is the current revision.
func (s *Store) Rev() int64 { return s.rev }

// CompactRev is the last compacted revision (0: none).
func (s *Store) CompactRev() int64 { return s.compact }

// header returns a response header at rev.
func header(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }
