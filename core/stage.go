package core

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/wal"
)

// The replica's slow work leaves it as data, in the shape of raft's
// asynchronous storage writes (raft.Config.AsyncStorageWrites): a Ready
// carries a MsgStorageAppend for the local append thread and a
// MsgStorageApply for the local apply thread, each with the responses that
// may be delivered only once that work is done. HandleReady (ready.go)
// turns them into an AppendJob and an ApplyJob; the world runs them and
// hands them back. Which message waits for which stage is decided here and
// in HandleReady, never by the world.

// AppendJob is the append stage's work: the entries, HardStates and
// received snapshots of one or more Ready rounds (group commit: every round
// handled while the previous job was out joins the next one), plus the WAL
// upkeep queued behind them (local snapshot markers, segment release), to
// be written to the WAL in order and synced once.
//
// Run does the slow part and may be called on any goroutine: it touches
// only the WAL, the snapshot directory on the Disk and the job's own data,
// never the rest of the replica. The world then hands the job back with
// Replica.AppendDone on the driving goroutine, which makes the writes
// visible to raft and delivers the responses that waited for them. At most
// one job is out at a time; NextAppend returns nil meanwhile.
type AppendJob struct {
	w       *wal.WAL
	fsys    Disk
	snapDir string
	ops     []appendOp
	sync    bool
	err     error

	// Entries and Bytes size the job, for the world's metrics and logs.
	Entries int
	Bytes   int
}

// appendOp is one Ready round's append, or one piece of WAL upkeep.
type appendOp struct {
	hs      *raftpb.HardState
	entries []*raftpb.Entry
	// snap is a snapshot received from the leader: its file (received
	// beside the MsgSnap, see snapshot.go) is installed under its final
	// name and its WAL marker written before the entries that follow it;
	// snapFile is that file, once Run installed it.
	snap     *raftpb.Snapshot
	snapFile *wal.SnapFile
	// marker records a snapshot this replica took (its file already
	// durable); releaseTo then drops the WAL segments it covers.
	marker    *wal.SnapMarker
	releaseTo uint64
	// purge removes snapshot files the newest ones made obsolete; it runs
	// in the append stage because that stage also installs received files.
	purge bool
	// sync: this op must be durable before its responses leave.
	sync bool
	// responses wait for this op's writes to be durable: votes and append
	// acknowledgements to peers, and raft's own messages stepped back.
	responses []*raftpb.Message
}

// Run writes the job to the WAL and syncs it. It must block until the job
// is durable; an error is fatal to the replica (AppendDone fail-stops it)
// and is also kept in the job.
func (j *AppendJob) Run() error {
	j.err = j.run()
	return j.err
}

func (j *AppendJob) run() error {
	// The entries and HardStates of consecutive rounds go to the WAL in one
	// Save: one write, where a Save per round cost a write syscall per
	// proposal under load (the loop often handles one proposal a round).
	// Only the newest HardState of such a run is written: the whole job is
	// synced at once, so no earlier one was ever durable alone, and each
	// supersedes the one before.
	var ents []*raftpb.Entry
	owned := false // ents is the job's own array, not a round's
	var hs *raftpb.HardState
	save := func() error {
		if len(ents) == 0 && raft.IsEmptyHardState(hs) {
			return nil
		}
		err := j.w.Save(hs, ents, false)
		ents, hs = ents[:0], nil
		if err != nil {
			return fmt.Errorf("core: WAL save: %w", err)
		}
		return nil
	}
	for i := range j.ops {
		op := &j.ops[i]
		if op.snap != nil || op.marker != nil {
			if err := save(); err != nil {
				return err
			}
		}
		if op.snap != nil {
			md := op.snap.GetMetadata()
			f, err := wal.InstallReceived(j.fsys, j.snapDir, md.GetTerm(), md.GetIndex())
			if err != nil {
				return fmt.Errorf("core: save snapshot: %w", err)
			}
			op.snapFile = f
			if err := j.w.SaveSnapshot(wal.SnapMarker{Index: md.GetIndex(), Term: md.GetTerm()}); err != nil {
				return fmt.Errorf("core: WAL snapshot marker: %w", err)
			}
		}
		if op.marker != nil {
			if err := j.w.SaveSnapshot(*op.marker); err != nil {
				return fmt.Errorf("core: WAL snapshot marker: %w", err)
			}
		}
		switch {
		case len(op.entries) == 0:
		case len(ents) == 0:
			ents, owned = op.entries, false // a single round: no copy
		case !owned:
			ents, owned = append(slices.Clip(ents), op.entries...), true // never into a round's own array
		default:
			ents = append(ents, op.entries...)
		}
		if !raft.IsEmptyHardState(op.hs) {
			hs = op.hs
		}
		if op.releaseTo > 0 || op.purge {
			if err := save(); err != nil {
				return err
			}
		}
		if op.releaseTo > 0 {
			if err := j.w.ReleaseTo(op.releaseTo); err != nil {
				return fmt.Errorf("core: release WAL: %w", err)
			}
		}
		if op.purge {
			if err := wal.PurgeSnapshots(j.fsys, j.snapDir, snapshotsKept); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	if j.sync {
		if err := j.w.Sync(); err != nil {
			return fmt.Errorf("core: WAL sync: %w", err)
		}
	}
	return nil
}

// Syncs reports whether Run syncs the WAL (some op needs it durable).
func (j *AppendJob) Syncs() bool { return j.sync }

// NextAppend hands out the append stage's next job, or nil when nothing
// waits, a job is still out, or all that waits is a commit index (it rides
// with the next job: a commit index need not be durable, and nothing
// waits for it).
func (r *Replica) NextAppend() *AppendJob {
	if r.failed != nil || r.appending != nil || len(r.appendq) == 0 {
		return nil
	}
	lazy := true
	for i := range r.appendq {
		lazy = lazy && r.appendq[i].lazy()
	}
	if lazy {
		return nil
	}
	j := &AppendJob{w: r.wal, fsys: r.cfg.Disk, snapDir: r.snapDir, ops: r.appendq}
	r.appendq = nil
	for _, op := range j.ops {
		j.sync = j.sync || op.sync
		j.Entries += len(op.entries)
		for _, e := range op.entries {
			j.Bytes += len(e.GetData())
		}
	}
	if r.cfg.Canary.SkipWALSync {
		j.sync = false
	}
	r.appending = j
	return j
}

// mustSync: entries, a received snapshot, or a changed term or vote must be
// durable before anything that depends on them leaves (raft.MustSync); a
// commit index alone need not be. Markers and releases sync themselves.
func (r *Replica) mustSync(op *appendOp) bool {
	if raft.IsEmptyHardState(op.hs) {
		return op.snap != nil || len(op.entries) > 0
	}
	prev := r.queuedHS
	r.queuedHS = op.hs
	return op.snap != nil || raft.MustSync(op.hs, prev, len(op.entries))
}

// lazy: the op only moves the commit index; it need not be written now.
func (op *appendOp) lazy() bool {
	return !op.sync && len(op.entries) == 0 && op.snap == nil && op.marker == nil &&
		op.releaseTo == 0 && !op.purge && len(op.responses) == 0
}

// AppendDone takes back the job NextAppend handed out, after Run. On the
// driving goroutine, in the job's order, it installs a received snapshot,
// makes the entries and HardState visible to raft's storage and delivers
// the responses that waited for the sync. A returned error (the job's, or
// a failure here) is fatal: the replica has failed-stop.
func (r *Replica) AppendDone(j *AppendJob) error {
	if j != r.appending {
		panic("core: AppendDone with a job that is not the one out")
	}
	r.appending = nil
	if r.failed != nil {
		return r.failed
	}
	if j.err != nil {
		return r.fail(j.err)
	}
	for _, op := range j.ops {
		if op.snap != nil {
			if err := r.installSnapshot(op.snap, op.snapFile); err != nil {
				return r.fail(err)
			}
		}
		if !raft.IsEmptyHardState(op.hs) {
			if err := r.storage.SetHardState(op.hs); err != nil {
				return r.fail(err)
			}
		}
		if len(op.entries) > 0 {
			if err := r.storage.Append(op.entries); err != nil {
				return r.fail(fmt.Errorf("core: raft storage append: %w", err))
			}
		}
		r.deliver(op.responses)
	}
	r.sendDelivered()
	if r.appendq == nil {
		clear(j.ops)
		r.appendq = j.ops[:0] // the next job's ops reuse the array
	}
	j.ops = nil
	return nil
}

// queueAppend turns a MsgStorageAppend into an op for the next job.
func (r *Replica) queueAppend(m *raftpb.Message) {
	op := appendOp{entries: m.GetEntries(), responses: m.GetResponses()}
	if m.Term != nil || m.Vote != nil || m.Commit != nil {
		op.hs = &raftpb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	}
	if !raft.IsEmptySnap(m.GetSnapshot()) {
		op.snap = m.GetSnapshot()
	}
	op.sync = r.mustSync(&op)
	if r.cfg.Canary.AckOnAppend && r.role == raft.StateLeader {
		r.ackOnAppend(op.entries)
	}
	if r.cfg.Canary.SendBeforePersist {
		// C4: acknowledgements and votes leave before the sync.
		var local []*raftpb.Message
		var peers []*raftpb.Message
		for _, resp := range op.responses {
			if r.isLocal(resp) {
				local = append(local, resp)
			} else {
				peers = append(peers, resp)
			}
		}
		r.cfg.Network.Send(peers)
		op.responses = local
	}
	r.appendq = append(r.appendq, op)
}

// queueWAL queues WAL upkeep behind the appends already queued — a local
// snapshot's marker (nil: none), the release of the segments it covers,
// and a purge of obsolete snapshot files: the append stage owns the WAL
// and installs received snapshot files, so nothing else may write either
// while a job is out.
func (r *Replica) queueWAL(marker *wal.SnapMarker, releaseTo uint64) {
	r.appendq = append(r.appendq, appendOp{marker: marker, releaseTo: releaseTo, purge: true})
}

// ApplyJob is the apply stage's work: committed entries, all durable here,
// to apply in order on the driving goroutine, and raft's response to step
// back after them.
type ApplyJob struct {
	m *raftpb.Message
	// Entries counts the committed entries; First and Last are their
	// indexes (inclusive).
	Entries     int
	First, Last uint64
}

// NextApply hands out the oldest apply job, or nil. The world runs it with
// Apply on the driving goroutine before taking the next one.
func (r *Replica) NextApply() *ApplyJob {
	if r.failed != nil || len(r.applyq) == 0 {
		return nil
	}
	m := r.applyq[0]
	r.applyq[0] = nil
	r.applyq = r.applyq[1:]
	ents := m.GetEntries()
	j := &ApplyJob{m: m, Entries: len(ents)}
	if len(ents) > 0 {
		j.First, j.Last = ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
	}
	return j
}

// Apply applies the job's committed entries, answers their callbacks,
// serves the reads they unblock, tells raft, and takes a snapshot when one
// is due. A returned error is fatal.
func (r *Replica) Apply(j *ApplyJob) error {
	if r.failed != nil {
		return r.failed
	}
	if err := r.applyEntries(j.m.GetEntries()); err != nil {
		return r.fail(err)
	}
	for _, e := range j.m.GetEntries() {
		r.appliedBytes += int64(len(e.GetData()))
		r.trimBytes += int64(len(e.GetData()))
		if r.flusher != nil {
			r.unflushed += int64(len(e.GetData())) + 1 // an empty entry counts too
		}
	}
	if r.unflushed >= engineFlushBytes {
		if err := r.flushEngineWrites(); err != nil {
			return err
		}
	}
	r.deliver(j.m.GetResponses())
	r.sendDelivered()
	if err := r.maybeSnapshot(); err != nil {
		return r.fail(err)
	}
	return r.failIf(r.maybeTrimLog())
}

// engineFlushBytes is how many bytes of entries a replica applies before it
// hands an engine's buffered writes (engine.WriteFlusher) to the OS; every
// tick flushes what is left. A process crash thus takes at most the entries
// of the last 64 KiB or the last tick from the engine (etcd's backend
// commits its batch every 100 ms or 10,000 entries, with the same effect):
// they are in the raft WAL, synced before they were applied, and replay
// applies them again. Flushing after every apply job cost a write(2) per job
// (about 3 µs, 0.6 µs per put at 50 clients, a whole one per put at one).
const engineFlushBytes = 64 << 10

// flushEngineWrites hands the engine's buffered writes to the OS; a failure
// is fatal.
func (r *Replica) flushEngineWrites() error {
	if err := r.flusher.FlushWrites(); err != nil {
		return r.fail(fmt.Errorf("core: flush engine writes: %w", err))
	}
	r.unflushed = 0
	return nil
}

// runStages runs the stages inline (Config.Pipeline off): each append job
// is written and synced before anything that waits for it, as a world
// without stages would.
func (r *Replica) runStages() error {
	for {
		progressed := false
		if j := r.NextAppend(); j != nil {
			_ = j.Run()
			if err := r.AppendDone(j); err != nil {
				return err
			}
			progressed = true
		}
		if j := r.NextApply(); j != nil {
			if err := r.Apply(j); err != nil {
				return err
			}
			progressed = true
		}
		if !progressed {
			return nil
		}
	}
}

// deliver hands a stage's responses on: raft's own are stepped back into
// it, the rest wait in sendBuf for sendDelivered, so that a job's
// acknowledgements to a peer leave in one Send and coalesce.
func (r *Replica) deliver(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if !r.isLocal(m) {
			r.sendBuf = append(r.sendBuf, m)
			continue
		}
		// NB: a response from a peer removed meanwhile is refused; raft
		// needs nothing more from it.
		_ = r.node().Step(m)
	}
}

// sendDelivered sends what deliver set aside.
func (r *Replica) sendDelivered() {
	peers := r.coalesce(r.sendBuf)
	if len(peers) > 0 {
		r.cfg.Network.Send(peers)
		r.releaseCoalesced()
	}
	clear(r.sendBuf)
	r.sendBuf = r.sendBuf[:0]
}

func (r *Replica) isLocal(m *raftpb.Message) bool {
	return m.GetTo() == r.cfg.ID || raft.IsLocalMsgTarget(m.GetTo())
}
