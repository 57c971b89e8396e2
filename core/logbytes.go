package core

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
