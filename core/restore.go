package core

import (
	"fmt"
	"path"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/engine"
	"metastore/core/mvcc"
	"metastore/core/wal"
)

// RestoreConfig describes one member's data directory to build from a
// store snapshot, as the first state of a new cluster.
type RestoreConfig struct {
	// Dir is the replica's directory (Config.Dir); it must hold no WAL.
	Dir  string
	Disk Disk
	// Engine receives the restored store; a durable engine keeps it, the
	// memory engine is rebuilt from the snapshot file at Open.
	Engine engine.Engine
	// Data is a store snapshot (mvcc.Store.Snapshot's bytes), checked whole.
	Data []byte
	// Members are the new cluster's voters, every one with its Context.
	Members []mvcc.Member
	// BumpRevision, when positive, raises the revision by that much and
	// compacts the history there (mvcc.Store.BumpRevision): etcdutl's
	// --bump-revision with --mark-compacted.
	BumpRevision int64
}

// restoreTerm is the term of the restored snapshot. Every member of the
// new cluster is restored with the same (index, term), so their logs agree
// and the first election, at term 2, is a vote on nothing but leadership.
const restoreTerm = 1

// Restore builds the directory a replica opens as a member of a new
// cluster holding the snapshot's data: the store with its member table
// replaced (mvcc.Store.Rebase), saved as a raft snapshot whose ConfState
// lists the new voters, and a WAL holding that snapshot's marker and a
// HardState that commits it. Open then recovers it like any member that
// had snapshotted: raft starts from the snapshot, with the new membership,
// and no entry needs replicating before the first election.
//
// The snapshot sits at the old store's applied index (1 for a store that
// never applied anything), so raft indexes recorded in the data (lease
// IDs mix them in, de-duplication records hold them) stay in the past.
// It returns the restored store's applied index.
func Restore(c RestoreConfig) (uint64, error) {
	if c.Disk == nil || c.Engine == nil || len(c.Members) == 0 {
		return 0, fmt.Errorf("core: restore needs Disk, Engine and Members")
	}
	walDir, snapDir := path.Join(c.Dir, "wal"), path.Join(c.Dir, "snap")
	if wal.Exists(c.Disk, walDir) {
		return 0, fmt.Errorf("core: restore: %s already holds a WAL (restore only into a new directory)", walDir)
	}
	store, err := mvcc.Open(c.Engine)
	if err != nil {
		return 0, fmt.Errorf("core: restore: %w", err)
	}
	if err := store.Restore(c.Data); err != nil {
		return 0, fmt.Errorf("core: restore: %w", err)
	}
	index := max(store.AppliedIndex(), 1)
	if err := store.Rebase(index, c.Members); err != nil {
		return 0, fmt.Errorf("core: restore: %w", err)
	}
	if c.BumpRevision > 0 {
		if err := store.BumpRevision(index, c.BumpRevision); err != nil {
			return 0, fmt.Errorf("core: restore: %w", err)
		}
	}
	cs := &raftpb.ConfState{}
	for _, m := range c.Members {
		if m.Learner {
			cs.Learners = append(cs.Learners, m.ID)
		} else {
			cs.Voters = append(cs.Voters, m.ID)
		}
	}
	if err := c.Disk.MkdirAll(snapDir); err != nil {
		return 0, fmt.Errorf("core: restore: %w", err)
	}
	w, err := wal.Create(c.Disk, walDir, wal.Options{})
	if err != nil {
		return 0, fmt.Errorf("core: restore: %w", err)
	}
	// Saved as a replica saves any snapshot it takes (the file, streamed
	// from the engine by the same job code, then the WAL marker), then
	// committed.
	job := &SnapshotJob{Index: index, Term: restoreTerm, conf: cs, view: c.Engine.Snapshot(), disk: c.Disk, dir: snapDir}
	err = job.Run()
	if err == nil {
		err = w.SaveSnapshot(wal.SnapMarker{Index: index, Term: restoreTerm})
	}
	if err == nil {
		hs := &raftpb.HardState{Term: proto.Uint64(restoreTerm), Commit: proto.Uint64(index), Vote: proto.Uint64(0)}
		err = w.Save(hs, nil, true)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("core: restore (remove %s before trying again): %w", c.Dir, err)
	}
	return index, nil
}
