package core

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/mvcc"
)

// HandleReady does one round of raft's work. raft runs with asynchronous
// storage writes: the slow work comes out of the Ready as data (stage.go),
// and the rules that make the pipeline safe are applied here, once:
//
//  1. messages to peers that promise nothing about this replica's disk —
//     a leader's appends and heartbeats, campaign requests, read index
//     rounds — leave at once (a leader may replicate before its own fsync,
//     raft thesis 10.2.1);
//  2. entries, HardState and a received snapshot are queued for the append
//     stage (NextAppend) with the responses that depend on them: a vote or
//     an append acknowledgement leaves, and the leader counts its own copy
//     towards commitment, only once AppendDone reports the job synced;
//  3. committed entries are queued for the apply stage (NextApply). raft
//     hands out only entries that are committed and already durable here,
//     and Apply answers their callbacks in log order;
//  4. linearizable reads learn their read index, and are served once the
//     apply stage has applied up to it (readQueue.serve, after each apply);
//  5. a snapshot, taken after an apply when one is due (maybeSnapshot),
//     queues its WAL marker and segment release behind the appends already
//     queued: only the append stage writes the WAL;
//  6. a MsgSnap of an engine-held snapshot waits for a file made from the
//     engine at the applied index (snapsend.go), then leaves rewritten to
//     that index.
//
// With Config.Pipeline off, HandleReady runs both stages itself before it
// returns, in the same order. A returned error is fatal: the replica has
// failed-stop and must be discarded (a persistence error is never retried).
func (r *Replica) HandleReady() error {
	if r.failed != nil {
		return r.failed
	}
	// NB: no HasReady check here: callers ask first, and an empty Ready
	// does nothing below (HasReady allocates raft's HardState each time).
	rd := r.node().Ready()
	if rd.SoftState != nil {
		r.observeSoftState(rd.SoftState)
	}
	out := r.outBuf[:0]
	for _, m := range rd.Messages {
		switch m.GetTo() {
		case raft.LocalAppendThread:
			r.queueAppend(m)
		case raft.LocalApplyThread:
			r.applyq = append(r.applyq, m)
		default:
			if m.GetType() == raftpb.MsgSnap && (isEngineHeld(m.GetSnapshot().GetData()) ||
				!r.snapshotReachesLog(m.GetSnapshot().GetMetadata().GetIndex())) {
				// No file stands for it, or the log was trimmed past it
				// (maybeTrimLog): one is made (snapsend.go).
				r.sendEngineSnapshot(m)
				continue
			}
			out = append(out, m)
		}
	}
	if out = r.coalesce(out); len(out) > 0 {
		r.cfg.Network.Send(out)
		r.releaseCoalesced()
	}
	clear(out)
	r.outBuf = out[:0]
	r.reads.onReadStates(r, rd.ReadStates)
	if !r.cfg.Pipeline {
		return r.runStages()
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

// applyEntries applies committed entries in order, as one apply group of
// the store (a memory engine records the applied index once for them all).
// Entries at or below the store's applied index were applied before a
// restart (durable engine).
func (r *Replica) applyEntries(ents []*raftpb.Entry) error {
	r.store.BeginApplyGroup()
	err := r.applyEach(ents)
	if endErr := r.store.EndApplyGroup(); err == nil && endErr != nil {
		err = fmt.Errorf("core: record applied index %d: %w", r.store.AppliedIndex(), endErr)
	}
	if err != nil {
		return err
	}
	r.reads.serve(r)
	return nil
}

func (r *Replica) applyEach(ents []*raftpb.Entry) error {
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
	r.confState = r.node().ApplyConfChange(cc)
	return nil
}

func (r *Replica) applyNormal(e *raftpb.Entry) error {
	if len(e.GetData()) == 0 {
		return r.store.ApplyNoop(e.GetIndex())
	}
	req, err := r.requestOf(e.GetData())
	if err != nil {
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
	if cb, ok := r.takePending(id); ok {
		if res.Err != nil {
			cb(Result{Err: res.Err, Index: e.GetIndex()})
		} else {
			cb(Result{Resp: res.Resp, Index: e.GetIndex()})
		}
	}
	return nil
}

func (r *Replica) applyConfChange(index uint64, cc raftpb.ConfChangeI, id uint64, ctx []byte) error {
	r.confState = r.node().ApplyConfChange(cc)
	v2 := cc.AsV2()
	for _, ch := range v2.GetChanges() {
		switch ch.GetType() {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			// NB: a new member that needs a snapshot ignores one whose
			// ConfState lacks it (raft's restore), and raft sends the newest
			// one taken: once the log was compacted, take one now that
			// names the member, or it waits for the next SnapshotEntries.
			// (A promotion takes one too; a learner needs none, but it
			// costs only a snapshot.)
			if r.snapIndex > 0 {
				r.snapshotDue = true
			}
		}
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
	if cb, ok := r.takePending(id); id != 0 && ok {
		cb(Result{Index: index})
	}
	return nil
}
