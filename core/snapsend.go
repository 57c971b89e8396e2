package core

import (
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/wal"
)

// Sending an engine-held snapshot: see the comment at the top of
// snapshot.go.

// sendEngineSnapshot takes a MsgSnap raft built from an engine-held
// snapshot. It leaves at once with the file made for sending if one is
// kept and not older than raft's snapshot; otherwise it waits for the file
// being made, or for a new one frozen now, at the applied index.
func (r *Replica) sendEngineSnapshot(m *raftpb.Message) {
	if f := r.sendFile; f != nil && f.Meta.GetIndex() >= r.snapIndex && r.snapshotReachesLog(f.Meta.GetIndex()) {
		r.sendsOut[m.GetTo()] = f.Meta.GetIndex()
		r.cfg.Network.Send([]*raftpb.Message{withSendFile(m, f)})
		return
	}
	if r.sendJob == nil {
		applied := r.store.AppliedIndex()
		term, err := r.storage.Term(applied)
		if err != nil {
			// Cannot happen (applied entries stay in the log down to the
			// snapshot, whose term raft keeps); raft asks again later.
			r.node().ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
			return
		}
		// NB: the view, the applied index and the ConfState are all as of
		// the last applied entry: apply runs on this goroutine.
		r.sendJob = &SnapshotJob{
			Index: applied, Term: term, ForSending: true,
			conf: proto.Clone(r.confState).(*raftpb.ConfState),
			view: r.engineView(),
			disk: r.cfg.Disk, dir: r.snapDir,
		}
	}
	r.sendJob.sends = append(r.sendJob.sends, m)
}

// withSendFile returns a copy of MsgSnap m standing for send file f.
// NB: m's Snapshot is raft's storage's own; it is replaced, not changed.
func withSendFile(m *raftpb.Message, f *wal.SnapFile) *raftpb.Message {
	cp := proto.Clone(m).(*raftpb.Message)
	cp.Snapshot = raftSnapshot(f)
	return cp
}

// sendFileDone completes a ForSending job: the MsgSnaps that waited for it
// leave, or, when the file could not be made, raft hears that they failed
// and asks again later. A file for sending is no state of the replica: an
// error making it is not a fail-stop.
func (r *Replica) sendFileDone(job *SnapshotJob, runErr error) error {
	if job != r.sendJob {
		return nil
	}
	r.sendJob, r.sendJobOut = nil, false
	if runErr != nil {
		for _, m := range job.sends {
			r.node().ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		}
		// NB: best effort, as purgeSendFiles; a full disk is the likely
		// cause, and the partial file would keep it full.
		_ = wal.RemoveUnfinishedSendFile(r.cfg.Disk, r.snapDir, job.Term, job.Index)
		return nil
	}
	msgs := make([]*raftpb.Message, 0, len(job.sends))
	for _, m := range job.sends {
		r.sendsOut[m.GetTo()] = job.Index
		msgs = append(msgs, withSendFile(m, job.file))
	}
	r.sendFile = job.file
	r.sendFilesMade++
	r.cfg.Network.Send(msgs)
	r.purgeSendFiles()
	return nil
}

// sendReported notes that the transport is done with the MsgSnap to id.
func (r *Replica) sendReported(id uint64) {
	if _, ok := r.sendsOut[id]; ok {
		delete(r.sendsOut, id)
		r.purgeSendFiles()
	}
}

// purgeSendFiles removes the files for sending that no send in flight
// uses. It runs here, on the driving goroutine, not in the append stage:
// the loop alone creates send jobs, so it knows which file a job still out
// will rename into place (that index is kept), and the append stage never
// touches these files. A removal that fails is left for the next one, or
// for the next boot: nothing depends on it.
func (r *Replica) purgeSendFiles() {
	var keep []uint64
	for _, idx := range r.sendsOut {
		if !slices.Contains(keep, idx) {
			keep = append(keep, idx)
		}
	}
	if r.sendJob != nil {
		keep = append(keep, r.sendJob.Index)
	}
	slices.Sort(keep)
	if r.sendFile != nil && !slices.Contains(keep, r.sendFile.Meta.GetIndex()) {
		r.sendFile = nil
	}
	_, _ = wal.RemoveSendFiles(r.cfg.Disk, r.snapDir, keep)
}

// SendFilesMade counts the files this replica made to send an engine-held
// snapshot to a follower.
func (r *Replica) SendFilesMade() uint64 { return r.sendFilesMade }
