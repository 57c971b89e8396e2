package core

import "fmt"

// The raft log between snapshots lives in memory (packedLog, raftlog.go).
// Counted in entries alone (SnapshotEntries, CatchUpEntries) its size
// follows the size of the entries: 15,000 entries of 100 puts of 1 KiB held
// 1.5 GB, most of a RocksDB member's resident set when loaded that way.
// Config.LogBytes bounds it in bytes as well: a snapshot is due once the
// entries applied since the last one hold LogBytes (unless the snapshot
// would be too large for that: snapshotLogRatio), and a compaction keeps at
// most LogBytes of catch-up entries behind it. A follower further behind
// than that is sent the snapshot, as it would be past CatchUpEntries.

// logBytesDue reports whether the entries applied since the last snapshot
// hold enough bytes for the next one.
func (r *Replica) logBytesDue() bool {
	return r.appliedBytes >= int64(r.cfg.LogBytes)
}

// compactIndex returns where to compact raft's log behind a snapshot at
// snap: CatchUpEntries entries kept, fewer when those hold more than
// LogBytes (0: nothing to compact).
func (r *Replica) compactIndex(snap uint64) uint64 {
	var floor uint64
	if snap > r.cfg.CatchUpEntries {
		floor = snap - r.cfg.CatchUpEntries
	}
	first, err := r.storage.FirstIndex()
	if err != nil || first > snap {
		return floor
	}
	last, _ := r.storage.LastIndex()
	lo := max(first, floor+1)
	// NB: the sizes come from the packed log's records: reading the
	// entries would rebuild every one of them.
	var kept uint64
	for i := min(snap, last); i >= lo; i-- {
		kept += r.storage.dataLen(i)
		if kept > r.cfg.LogBytes {
			return max(floor, i)
		}
	}
	return floor
}

// maybeTrimLog compacts the raft log behind the applied index of a replica
// whose snapshots hold the store (the memory engine), once LogKeepBytes
// were applied since the last trim: it keeps what compactIndex keeps
// behind a snapshot, or LogKeepBytes of entries if that reaches further
// back. Between snapshots such a log used to hold every entry since the
// last one, up to 1/snapshotLogRatio of the store (50 MB at a million
// keys), which tied the snapshot cadence to memory; now the cadence only
// weighs the writing of the store against the WAL replayed at a restart.
//
// The trim may pass the newest snapshot. A follower that needs entries
// before the log's first then gets a MsgSnap of that snapshot, which does
// not reach the log: HandleReady sends the store as of the applied index
// instead (sendEngineSnapshot), as for an engine-held snapshot. A
// snapshot job out is never passed: its completion creates raft's
// snapshot at its index, which must still be in the log; nor is a send
// job's index (snapshotReachesLog would refuse its file).
func (r *Replica) maybeTrimLog() error {
	if r.syncer != nil || r.trimBytes < int64(r.cfg.LogKeepBytes) || r.snapIndex == 0 {
		return nil
	}
	r.trimBytes = 0
	applied := r.store.AppliedIndex()
	c := r.compactIndex(applied)
	first, err := r.storage.FirstIndex()
	if err != nil {
		return fmt.Errorf("core: trim raft log: %w", err)
	}
	c = min(c, r.keepIndex(applied, first))
	if r.snapJob != nil {
		c = min(c, r.snapJob.Index)
	}
	if r.sendJob != nil {
		// Nor a file being made to send: the log must follow it, or the
		// follower it goes to could not go on and is sent another.
		c = min(c, r.sendJob.Index)
	}
	if c < first {
		return nil
	}
	if err := r.storage.Compact(c); err != nil {
		return fmt.Errorf("core: trim raft log: %w", err)
	}
	if c > r.snapIndex {
		r.trimsPast++
	}
	return nil
}

// keepIndex returns where to compact a log whose entries first..applied
// should keep LogKeepBytes of the newest (first-1: all of them fit). A
// memory-engine replica keeps that much through its snapshots' compactions
// too, or each snapshot would cut the window to CatchUpEntries.
func (r *Replica) keepIndex(applied, first uint64) uint64 {
	var kept uint64
	for i := applied; i >= first; i-- {
		if kept += r.storage.dataLen(i); kept > r.cfg.LogKeepBytes {
			return i
		}
	}
	return first - 1
}

// snapshotReachesLog reports whether raft's snapshot at index snap is
// followed by the log (its next entry not compacted away): if not, a
// follower given it could not go on from the log (maybeTrimLog).
func (r *Replica) snapshotReachesLog(snap uint64) bool {
	first, err := r.storage.FirstIndex()
	return err == nil && snap+1 >= first
}
