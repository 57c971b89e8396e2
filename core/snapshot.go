package core

import (
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/wal"
)

// saveSnapshot makes a snapshot received from the leader durable before
// anything refers to it: the snapshot file first, then the WAL marker.
func (r *Replica) saveSnapshot(snap *raftpb.Snapshot) error {
	if err := wal.SaveSnapshot(r.cfg.Disk, r.snapDir, snap); err != nil {
		return fmt.Errorf("core: save snapshot: %w", err)
	}
	md := snap.GetMetadata()
	if err := r.wal.SaveSnapshot(wal.SnapMarker{Index: md.GetIndex(), Term: md.GetTerm()}); err != nil {
		return fmt.Errorf("core: WAL snapshot marker: %w", err)
	}
	return nil
}

// installSnapshot replaces the log and the store with a leader's snapshot.
func (r *Replica) installSnapshot(snap *raftpb.Snapshot) error {
	if err := r.storage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("core: raft storage snapshot: %w", err)
	}
	if err := r.store.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("core: restore snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	r.snapIndex = snap.GetMetadata().GetIndex()
	r.confState = snap.GetMetadata().GetConfState()
	r.installs++
	r.lessor.reset(r)
	r.reads.serve(r)
	return nil
}

// maybeSnapshot takes a snapshot every SnapshotEntries applied entries and
// compacts the raft log and the WAL behind it, keeping CatchUpEntries for
// followers that lag a little.
func (r *Replica) maybeSnapshot() error {
	applied := r.store.AppliedIndex()
	if applied-r.snapIndex < r.cfg.SnapshotEntries {
		return nil
	}
	data, err := r.store.Snapshot()
	if err != nil {
		return fmt.Errorf("core: snapshot store: %w", err)
	}
	snap, err := r.storage.CreateSnapshot(applied, r.confState, data)
	if err != nil {
		return fmt.Errorf("core: create snapshot at %d: %w", applied, err)
	}
	if err := r.saveSnapshot(snap); err != nil {
		return err
	}
	r.snapIndex = applied
	if applied > r.cfg.CatchUpEntries {
		if err := r.storage.Compact(applied - r.cfg.CatchUpEntries); err != nil && err != raft.ErrCompacted {
			return fmt.Errorf("core: compact raft log: %w", err)
		}
	}
	if err := r.wal.ReleaseTo(applied); err != nil {
		return fmt.Errorf("core: release WAL: %w", err)
	}
	if err := wal.PurgeSnapshots(r.cfg.Disk, r.snapDir, 2); err != nil {
		return fmt.Errorf("core: purge snapshots: %w", err)
	}
	return nil
}
