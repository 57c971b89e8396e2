package core

import (
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/mvcc"
	"metastore/core/wal"
)

// HandleReady does one round of raft's work, in the order raft requires:
//
//  1. a received snapshot is saved (file, then WAL marker);
//  2. entries and HardState are appended to the WAL and synced;
//  3. only then are messages sent — a vote or an append acknowledged to a
//     peer must survive a crash of this replica;
//  4. committed entries are applied and their callbacks answered;
//  5. linearizable reads whose read index is applied are served.
//
// A returned error is fatal: the replica has failed-stop and must be
// discarded (a persistence error is never retried).
func (r *Replica) HandleReady() error {
	if r.failed != nil {
		return r.failed
	}
	if !r.rn.HasReady() {
		return nil
	}
	rd := r.rn.Ready()
	if rd.SoftState != nil {
		r.observeSoftState(rd.SoftState)
	}
	if r.cfg.Canary.SendBeforePersist {
		r.cfg.Network.Send(rd.Messages)
	}
	var snapFile *wal.SnapFile // snapshot: see snapshot.go
	if !raft.IsEmptySnap(rd.Snapshot) {
		f, err := r.saveSnapshot(rd.Snapshot)
		if err != nil {
			return r.fail(err)
		}
		snapFile = f
	}
	sync := rd.MustSync && !r.cfg.Canary.SkipWALSync
	if err := r.wal.Save(rd.HardState, rd.Entries, sync); err != nil {
		return r.fail(fmt.Errorf("core: WAL save: %w", err))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.installSnapshot(rd.Snapshot, snapFile); err != nil {
			return r.fail(err)
		}
	}
	if rd.HardState != nil {
		if err := r.storage.SetHardState(rd.HardState); err != nil {
			return r.fail(err)
		}
	}
	if err := r.storage.Append(rd.Entries); err != nil {
		return r.fail(fmt.Errorf("core: raft storage append: %w", err))
	}
	if r.cfg.Canary.AckOnAppend && r.role == raft.StateLeader {
		r.ackOnAppend(rd.Entries)
	}
	if !r.cfg.Canary.SendBeforePersist {
		r.cfg.Network.Send(rd.Messages)
	}
	if err := r.applyEntries(rd.CommittedEntries); err != nil {
		return r.fail(err)
	}
	r.reads.onReadStates(r, rd.ReadStates)
	r.rn.Advance(rd)
	if err := r.maybeSnapshot(); err != nil {
		return r.fail(err)
	}
	return nil
}

func (r *Replica) observeSoftState(ss *raft.SoftState) {
	if ss.Lead != r.leader {
		r.leaderChanges++
		r.leader = ss.Lead
	}
	wasLeader := r.role == raft.StateLeader
	r.role = ss.RaftState
	isLeader := r.role == raft.StateLeader
	switch {
	case isLeader && !wasLeader:
		r.lessor.promote(r)
	case wasLeader && !isLeader:
		r.lessor.demote(r)
	}
}

// applyEntries applies committed entries in order. Entries at or below the
// store's applied index were applied before a restart (durable engine).
func (r *Replica) applyEntries(ents []*raftpb.Entry) error {
	for _, e := range ents {
		if e.GetIndex() <= r.store.AppliedIndex() {
			if err := r.reapplyConfChange(e); err != nil {
				return fmt.Errorf("core: re-apply entry %d: %w", e.GetIndex(), err)
			}
			continue
		}
		var err error
		switch e.GetType() {
		case raftpb.EntryNormal:
			err = r.applyNormal(e)
		case raftpb.EntryConfChange:
			cc := &raftpb.ConfChange{}
			if err = proto.Unmarshal(e.GetData(), cc); err == nil {
				err = r.applyConfChange(e.GetIndex(), cc, cc.GetId(), cc.GetContext())
			}
		case raftpb.EntryConfChangeV2:
			cc := &raftpb.ConfChangeV2{}
			if err = proto.Unmarshal(e.GetData(), cc); err == nil {
				err = r.applyConfChange(e.GetIndex(), cc, 0, cc.GetContext())
			}
		}
		if err != nil {
			return fmt.Errorf("core: apply entry %d: %w", e.GetIndex(), err)
		}
	}
	r.reads.serve(r)
	return nil
}

// reapplyConfChange hands raft a configuration change the store applied
// before a restart: raft's membership lives only in memory and snapshots.
func (r *Replica) reapplyConfChange(e *raftpb.Entry) error {
	var cc raftpb.ConfChangeI
	switch e.GetType() {
	case raftpb.EntryConfChange:
		c := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return err
		}
		cc = c
	case raftpb.EntryConfChangeV2:
		c := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return err
		}
		cc = c
	default:
		return nil
	}
	r.confState = r.rn.ApplyConfChange(cc)
	return nil
}

func (r *Replica) applyNormal(e *raftpb.Entry) error {
	if len(e.GetData()) == 0 {
		return r.store.ApplyNoop(e.GetIndex())
	}
	req := &pb.InternalRaftRequest{}
	if err := proto.Unmarshal(e.GetData(), req); err != nil {
		// Every proposal is marshalled by a replica; garbage means a bug.
		panic(fmt.Sprintf("core: entry %d holds an undecodable request: %v", e.GetIndex(), err))
	}
	res := r.store.Apply(e.GetIndex(), req)
	if res.Duplicate {
		return nil
	}
	if res.Err == nil {
		r.lessor.onApply(r, req, res.Resp)
		if len(res.Events) > 0 {
			r.emit(res.Events[0].GetKv().GetModRevision(), res.Events)
		}
	}
	id := req.GetHeader().GetID()
	if cb, ok := r.pending[id]; ok {
		delete(r.pending, id)
		if res.Err != nil {
			cb(Result{Err: res.Err, Index: e.GetIndex()})
		} else {
			cb(Result{Resp: res.Resp, Index: e.GetIndex()})
		}
	}
	return nil
}

func (r *Replica) applyConfChange(index uint64, cc raftpb.ConfChangeI, id uint64, ctx []byte) error {
	r.confState = r.rn.ApplyConfChange(cc)
	v2 := cc.AsV2()
	for _, ch := range v2.GetChanges() {
		// The learner flag comes from the resulting configuration, so an
		// UpdateNode of a learner keeps it.
		m := mvcc.Member{ID: ch.GetNodeId(), Context: ctx,
			Learner: slices.Contains(r.confState.GetLearners(), ch.GetNodeId())}
		removed := ch.GetType() == raftpb.ConfChangeRemoveNode
		if err := r.store.ApplyMember(index, m, removed); err != nil {
			return err
		}
	}
	if len(v2.GetChanges()) == 0 {
		if err := r.store.ApplyNoop(index); err != nil {
			return err
		}
	}
	if cb, ok := r.pending[id]; ok && id != 0 {
		delete(r.pending, id)
		cb(Result{Index: index})
	}
	return nil
}
