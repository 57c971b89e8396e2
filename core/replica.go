package core

import (
	"fmt"
	"path"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/engine"
	"metastore/core/mvcc"
	"metastore/core/wal"
)

// Replica is one member's state machine: raft, its WAL and snapshots, and
// the MVCC store. It owns no goroutines and no timers: the world calls Tick,
// Step, Propose, Read and HandleReady from one goroutine (production) or
// from the simulator's event loop. It is not safe for concurrent use.
type Replica struct {
	cfg     Config
	rn      *raft.RawNode
	storage *packedLog
	wal     *wal.WAL
	store   *mvcc.Store

	walDir, snapDir string

	confState     *raftpb.ConfState
	snapIndex     uint64 // index of the newest snapshot taken or installed
	leader        uint64
	role          raft.StateType
	leaderChanges uint64
	installs      uint64

	// snapJob is the snapshot being written off the loop (snapshot.go);
	// snapJobOut is set once the world took it.
	snapJob *SnapshotJob
	// syncer is the engine when its snapshots are engine-held: durable, it
	// writes the applied index with the data, and it can sync.
	syncer engine.Syncer
	// flusher is the engine when it may buffer writes in the process
	// (engine.WriteFlusher); unflushed counts the entry bytes applied since
	// its last flush (see flushEngineWrites).
	flusher   engine.WriteFlusher
	unflushed int64
	// sendJob is the file for sending an engine-held snapshot being made
	// (snapsend.go), sendJobOut set once the world took it; sendFile is
	// the newest one made and still kept; sendsOut maps each follower whose
	// MsgSnap the transport has not reported yet to its file's index.
	sendJob       *SnapshotJob
	sendJobOut    bool
	sendFile      *wal.SnapFile
	sendsOut      map[uint64]uint64
	sendFilesMade uint64
	// snapshotDue asks for a snapshot at the next apply whatever the
	// SnapshotEntries count (a member was added: see applyConfChange).
	snapshotDue bool
	// snapBytes is the size of the newest snapshot file taken or
	// installed; appliedBytes counts the entry bytes applied since it
	// (maybeSnapshot weighs one against the other).
	snapBytes, appliedBytes int64
	snapJobOut              bool
	// trimBytes counts the entry bytes applied since the raft log was
	// last trimmed behind the applied index (maybeTrimLog); trimsPast
	// counts the trims that went past the newest snapshot.
	trimBytes int64
	trimsPast uint64
	// markerRepaired: recover wrote a missing snapshot marker.
	markerRepaired bool

	// pending maps request IDs to the callbacks waiting for their apply,
	// with the requests this replica proposed (see requestOf).
	pending map[uint64]pendingCall
	// decodedPut holds the put request decoded from the entry being
	// applied, if any (requestOf).
	decodedPut putWrite
	// proposals wait here, with their request IDs, until raft is next
	// used (node).
	proposals   []*raftpb.Entry
	proposalIDs []uint64
	lastBatch   int // how many proposals the last MsgProp carried
	// nextID is the next request ID to hand out (newID).
	nextID uint64
	reads  readQueue
	lessor lessor
	sink   EventSink

	// The stages (stage.go): appendq waits for the next append job,
	// appending is the job out with the world, applyq holds the apply work
	// raft handed out. queuedHS is the newest HardState queued, against
	// which the next one decides whether a sync is needed.
	appendq   []appendOp
	appending *AppendJob
	applyq    []*raftpb.Message
	queuedHS  *raftpb.HardState
	outBuf    []*raftpb.Message // reused by HandleReady
	sendBuf   []*raftpb.Message // reused by deliver
	entsBuf   []*raftpb.Entry   // reused by coalesce
	lastTo    []peerAt          // reused by coalesce
	// coalescedAcks and coalescedApps count coalesce's merges.
	coalescedAcks, coalescedApps uint64

	// failed is set when a persistence error made the replica fail-stop.
	failed error
}

// Open starts a replica from the state in cfg.Dir, bootstrapping a new
// cluster (cfg.Peers) or waiting to join (cfg.Join) when there is none.
func Open(cfg Config) (*Replica, error) {
	cfg.setDefaults()
	if cfg.ID == 0 {
		return nil, fmt.Errorf("core: replica ID must be non-zero")
	}
	if cfg.Disk == nil || cfg.Clock == nil || cfg.Network == nil || cfg.Engine == nil || cfg.Rand == nil {
		return nil, fmt.Errorf("core: Config needs Disk, Clock, Network, Engine and Rand")
	}
	r := &Replica{
		cfg:       cfg,
		storage:   newPackedLog(cfg.LogTailEntries),
		walDir:    path.Join(cfg.Dir, "wal"),
		snapDir:   path.Join(cfg.Dir, "snap"),
		pending:   make(map[uint64]pendingCall),
		nextID:    cfg.Rand.Uint64(),
		confState: &raftpb.ConfState{},
		sendsOut:  make(map[uint64]uint64),
	}
	if s, ok := cfg.Engine.(engine.Syncer); ok && cfg.Engine.Durable() {
		// NB: durable alone is not enough: RocksDB's unsynced WAL tail may
		// go with a machine crash, so a snapshot may leave the state to the
		// engine only once it synced it.
		r.syncer = s
	}
	if f, ok := cfg.Engine.(engine.WriteFlusher); ok && cfg.Engine.Durable() {
		r.flusher = f
	}
	r.lessor.init()
	r.reads.init()
	store, err := mvcc.Open(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("core: open store: %w", err)
	}
	r.store = store
	r.store.NoDedup = cfg.Canary.NoDedup
	r.store.SplitAppliedIndex = cfg.Canary.AppliedIndexApart
	r.store.NoAuthCheck = cfg.Canary.IgnoreAuth
	r.store.HistoryAtCompactRev = cfg.Canary.HistoryAtCompactRev
	r.store.OldReadsSkipTombstones = cfg.Canary.OldReadsSkipTombstones
	r.store.CompactRevUnreadable = cfg.Canary.CompactRevUnreadable
	if err := cfg.Disk.MkdirAll(r.snapDir); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if err := wal.RemoveSaveLeftovers(cfg.Disk, r.snapDir); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	fresh := !wal.Exists(cfg.Disk, r.walDir)
	if fresh {
		if store.AppliedIndex() != 0 {
			return nil, fmt.Errorf("core: engine holds state (applied index %d) but %s has no WAL", store.AppliedIndex(), r.walDir)
		}
		if r.wal, err = wal.Create(cfg.Disk, r.walDir, r.walOptions()); err != nil {
			return nil, fmt.Errorf("core: create WAL: %w", err)
		}
	} else if err := r.recover(); err != nil {
		return nil, err
	}
	if hs, _, err := r.storage.InitialState(); err == nil {
		r.queuedHS = hs
	}
	rn, err := raft.NewRawNode(r.raftConfig())
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	r.rn = rn
	if fresh && !cfg.Join {
		if len(cfg.Peers) == 0 {
			return nil, fmt.Errorf("core: a new cluster needs Peers (or Join)")
		}
		peers := make([]raft.Peer, len(cfg.Peers))
		for i, id := range cfg.Peers {
			peers[i] = raft.Peer{ID: id}
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("core: bootstrap: %w", err)
		}
	}
	return r, nil
}

// recover loads the newest snapshot and the WAL after it, and brings the
// store up to the snapshot when the engine is behind it.
func (r *Replica) recover() error {
	snap, err := wal.LoadNewestSnapshot(r.cfg.Disk, r.snapDir)
	if err != nil {
		return fmt.Errorf("core: load snapshot: %w", err)
	}
	w, rec, err := wal.Open(r.cfg.Disk, r.walDir, r.walOptions())
	if err != nil {
		return fmt.Errorf("core: open WAL: %w", err)
	}
	r.wal = w
	var md *raftpb.SnapshotMetadata
	if snap != nil {
		md = snap.Meta
	}
	snapIdx := md.GetIndex()
	if rec.Snapshot.Index > snapIdx {
		return fmt.Errorf("core: WAL has a snapshot marker at index %d but the newest readable snapshot file is at %d", rec.Snapshot.Index, snapIdx)
	}
	if snap != nil && snapIdx > rec.Snapshot.Index {
		// A crash came between saving the snapshot file and its WAL marker.
		// Write the marker now: the log continues from the snapshot, and a
		// later recovery must not find those entries after a gap.
		if err := r.wal.SaveSnapshot(wal.SnapMarker{Index: snapIdx, Term: md.GetTerm()}); err != nil {
			return fmt.Errorf("core: WAL snapshot marker for recovered snapshot %d: %w", snapIdx, err)
		}
		r.markerRepaired = true
	}
	if snap != nil {
		if err := r.storage.ApplySnapshot(raftSnapshot(snap)); err != nil {
			return fmt.Errorf("core: install snapshot: %w", err)
		}
		r.snapIndex = snapIdx
		r.confState = md.GetConfState()
		switch applied := r.store.AppliedIndex(); {
		case snap.MetadataOnly():
			// An engine-held snapshot: the engine was synced at its index
			// before the file was written, and the log before it may be
			// gone. An engine behind it lost synced writes, or is not the
			// one this member snapshotted; nothing here can rebuild it.
			if !r.cfg.Engine.Durable() || applied < snapIdx {
				return fmt.Errorf("core: snapshot %d is held by the engine, but the engine (durable: %v) has applied only up to %d: its synced state is lost; remove the member's data and add it again",
					snapIdx, r.cfg.Engine.Durable(), applied)
			}
		case !r.cfg.Engine.Durable() || applied < snapIdx:
			if err := r.restoreStore(snap); err != nil {
				return err
			}
		}
	}
	hs := rec.HardState
	if hs == nil {
		hs = &raftpb.HardState{}
	}
	if snap != nil {
		// A crash between saving a snapshot file and its WAL marker leaves a
		// snapshot newer than the HardState. Its contents are committed
		// (a leader sent them), so commit and term may rise to it; the vote
		// is dropped only with a term it was not cast in.
		if hs.GetCommit() < md.GetIndex() || hs.GetTerm() < md.GetTerm() {
			hs = proto.Clone(hs).(*raftpb.HardState)
			if hs.GetTerm() < md.GetTerm() {
				hs.Term, hs.Vote = proto.Uint64(md.GetTerm()), proto.Uint64(0)
			}
			hs.Commit = proto.Uint64(max(hs.GetCommit(), md.GetIndex()))
		}
	}
	if applied := r.store.AppliedIndex(); applied > hs.GetCommit() {
		// A durable engine applied entries whose commit index was not yet
		// synced (raft does not sync commit-only HardState changes): what
		// was applied was committed.
		hs = proto.Clone(hs).(*raftpb.HardState)
		hs.Commit = proto.Uint64(applied)
	}
	if err := r.storage.SetHardState(hs); err != nil {
		return err
	}
	if err := r.storage.Append(rec.Entries); err != nil {
		return fmt.Errorf("core: load WAL entries: %w", err)
	}
	return nil
}

func (r *Replica) walOptions() wal.Options {
	return wal.Options{SegmentBytes: r.cfg.WALSegmentBytes, ZeroAheadBytes: max(r.cfg.WALZeroAheadBytes, 0)}
}

func (r *Replica) raftConfig() *raft.Config {
	c := &raft.Config{
		ID:            r.cfg.ID,
		ElectionTick:  r.cfg.ElectionTicks,
		HeartbeatTick: r.cfg.HeartbeatTicks,
		Storage:       r.storage,
		// Entries after the snapshot are delivered again even when a
		// durable engine applied them: configuration changes must reach
		// raft on every boot (apply skips the store part).
		Applied:                   r.snapIndex,
		MaxSizePerMsg:             r.cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:  r.cfg.MaxSizePerMsg,
		MaxUncommittedEntriesSize: r.cfg.MaxUncommittedEntriesSize,
		MaxInflightMsgs:           r.cfg.MaxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    r.cfg.Logger,
		StepDownOnRemoval:         true,
		// The slow work leaves the Ready as data (stage.go): the world
		// decides where and when it runs, core decides what waits for it.
		AsyncStorageWrites: true,
	}
	if r.cfg.Canary.LeaseBasedReads {
		c.ReadOnlyOption = raft.ReadOnlyLeaseBased
	}
	c.PreVote = !r.cfg.Canary.NoPreVote
	c.CheckQuorum = !r.cfg.Canary.NoCheckQuorum
	return c
}

// Tick advances raft's logical clock by one tick and runs the leader's
// lease duties (expiry, checkpoints) and read retries.
func (r *Replica) Tick() {
	if r.failed != nil {
		return
	}
	r.node().Tick()
	r.reads.tick(r)
	r.lessor.tick(r)
	if r.unflushed > 0 {
		_ = r.flushEngineWrites() // a failure fail-stops the replica
	}
}

// Step feeds a message from a peer into raft.
func (r *Replica) Step(m *raftpb.Message) error {
	if r.failed != nil {
		return ErrStopped
	}
	if m.GetType() == raftpb.MsgProp && len(m.GetEntries()) == 0 {
		return nil
	}
	if m.GetType() == raftpb.MsgSnap {
		if err := r.checkSnapshotMessage(m); err != nil {
			return err
		}
	}
	err := r.node().Step(m)
	if err == raft.ErrStepPeerNotFound || err == raft.ErrStepLocalMsg {
		return nil // a message from a removed member, or a confused peer
	}
	return err
}

// HasReady reports whether HandleReady has work to do.
func (r *Replica) HasReady() bool { return r.failed == nil && r.node().HasReady() }

// Failed returns the error that made the replica fail-stop, or nil.
func (r *Replica) Failed() error { return r.failed }

// Store gives read access to the MVCC store (hashes, watch history, leases)
// on the driving goroutine.
func (r *Replica) Store() *mvcc.Store { return r.store }

// SetEventSink installs the receiver of watch events.
func (r *Replica) SetEventSink(s EventSink) { r.sink = s }

// ID is this replica's raft ID.
func (r *Replica) ID() uint64 { return r.cfg.ID }

// Status reports the replica's view of raft and the store.
func (r *Replica) Status() Status {
	st := r.node().BasicStatus() // Status() would copy every follower's progress
	s := Status{
		ID:                 r.cfg.ID,
		Leader:             st.Lead,
		Term:               st.HardState.GetTerm(),
		Role:               roleName(st.RaftState),
		Commit:             st.HardState.GetCommit(),
		Applied:            r.store.AppliedIndex(),
		Revision:           r.store.Rev(),
		CompactRev:         r.store.CompactRev(),
		Voters:             append([]uint64(nil), r.confState.GetVoters()...),
		Learners:           append([]uint64(nil), r.confState.GetLearners()...),
		SnapshotIdx:        r.snapIndex,
		LeaderChange:       r.leaderChanges,
		SnapshotsInstalled: r.installs,
		MarkerRepaired:     r.markerRepaired,
		Alarms:             r.store.Alarms(),
		AuthEnabled:        r.store.Auth().Enabled(),
	}
	for _, id := range s.Learners {
		if id == r.cfg.ID {
			s.Learner = true
		}
	}
	return s
}

// Leading reports whether this replica leads, as of its last Ready
// (Status().Role == "leader", without Status's copies).
func (r *Replica) Leading() bool { return r.role == raft.StateLeader }

// SnapshotsInstalled counts the leader snapshots this replica installed
// (Status().SnapshotsInstalled).
func (r *Replica) SnapshotsInstalled() uint64 { return r.installs }

// LogTrimsPastSnapshot counts the raft log compactions behind the applied
// index that dropped entries the newest snapshot does not cover
// (maybeTrimLog): from then on a follower that needs them is sent the
// store as of the applied index.
func (r *Replica) LogTrimsPastSnapshot() uint64 { return r.trimsPast }

func roleName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

// TransferLeader asks raft to hand leadership to another voter.
func (r *Replica) TransferLeader(to uint64) { r.node().TransferLeader(to) }

// Campaign makes this replica take over leadership now. With PreVote and
// CheckQuorum, every member that heard the leader within an election
// timeout refuses a plain election, so while a leader is known the replica
// asks it for a leader transfer (the one election members in lease grant);
// with no leader it campaigns.
func (r *Replica) Campaign() error {
	if lead := r.node().BasicStatus().Lead; lead != raft.None && lead != r.cfg.ID && !r.cfg.Canary.PlainCampaign {
		r.node().TransferLeader(r.cfg.ID)
		return nil
	}
	return r.node().Campaign()
}

// ReportUnreachable tells raft a message to id could not be delivered.
func (r *Replica) ReportUnreachable(id uint64) { r.node().ReportUnreachable(id) }

// ReportSnapshot tells raft whether a MsgSnap to id was delivered.
func (r *Replica) ReportSnapshot(id uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	r.node().ReportSnapshot(id, status)
	r.sendReported(id)
}

// Close releases the WAL. Pending callbacks are dropped (never called).
// It must not be called while an AppendJob is running.
func (r *Replica) Close() error {
	if r.failed == nil {
		r.failed = ErrStopped
	}
	if r.snapJob != nil && !r.snapJobOut {
		r.snapJob.Abandon()
		r.snapJob = nil
	}
	if r.sendJob != nil && !r.sendJobOut {
		r.sendJob.Abandon()
		r.sendJob = nil
	}
	return r.wal.Close()
}

// fail makes the replica fail-stop: an fsync or write error is never
// retried, since the kernel may have dropped the dirty pages.
func (r *Replica) fail(err error) error {
	if r.failed == nil {
		r.failed = err
	}
	return err
}

func (r *Replica) emit(rev int64, evs []*mvccpb.Event) {
	if r.sink != nil && len(evs) > 0 {
		r.sink(rev, evs)
	}
}
