package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/engine"
	"metastore/core/mvcc"
	"metastore/core/wal"
)

// Snapshots stay off the driving loop, and out of memory.
//
// Taking one: once SnapshotEntries entries were applied since the last
// snapshot, HandleReady prepares a SnapshotJob and hands the work out as
// data. The world runs job.Run off the loop (production: a goroutine; the
// simulator: a background event on virtual time), and then calls
// SnapshotDone on the loop. Only then does the replica write the WAL
// marker, give raft the snapshot, compact raft's log and release WAL
// segments. A crash between the file and the marker is handled by recover
// (a snapshot file newer than the marker). One such job is in flight at a
// time. What Run writes depends on the engine:
//
//   - the memory engine loses everything with the process, so the snapshot
//     must hold the store: the job freezes the engine (engine.Snapshot, a
//     copy-on-write tree clone) at the applied index and streams the view
//     into the snapshot file;
//   - a durable engine that can sync (engine.Syncer: RocksDB) already
//     holds the store, with the applied index written in the same batch as
//     the data. Its snapshots are engine-held: Run syncs the engine, so
//     that every entry up to the job's index survives a machine crash in
//     the engine itself, then writes a snapshot file holding only the
//     metadata (index, term, ConfState: what raft needs at recovery).
//     Nothing proportional to the store is written.
//
// What raft holds: the raftpb.Snapshot in raft's storage, and in a MsgSnap,
// carries a descriptor (the file's size and checksum, or engineHeldDesc),
// never the store. The world's transport sends the file itself beside the
// MsgSnap (SnapshotFiles.Open) and the receiving world stores it before
// stepping the message (SnapshotFiles.Receive); Step refuses a MsgSnap
// whose file is not there. Installing restores the store from the file in
// bounded batches.
//
// Sending an engine-held snapshot (snapsend.go): a follower needs
// the store, which no file holds. As etcd does with its bbolt database,
// the leader sends its current state instead: when raft emits a MsgSnap of
// an engine-held snapshot, HandleReady holds the message, freezes the
// engine at the applied index A and prepares a second kind of job
// (ForSending) that streams the view into a file made only for sending
// (wal.CreateSendFile). When it is done the held messages leave with their
// snapshot rewritten to A: its term, the ConfState as of A, the file's
// descriptor. A ≥ the snapshot raft chose, so the leader's log still holds
// every entry after A, and raft takes the follower's acknowledgement of A
// as it would one of the snapshot it asked for. Messages are held rather
// than refused: raft sends a follower in snapshot state nothing else until
// it hears how the snapshot went, so a refusal (ReportSnapshot failure)
// would only make it ask again a heartbeat later, for a job already under
// way. The file serves every follower that needs a snapshot while it is
// kept, and is removed once the transport reported every send of it.

// ErrSnapshotMissing is returned by Step for a MsgSnap whose snapshot file
// was not received (SnapshotFiles.Receive) first.
var ErrSnapshotMissing = errors.New("core: snapshot file not received")

// snapDescMagic starts the descriptor raft's snapshots carry as Data:
// magic | u64 BE file size | u32 BE file checksum.
var snapDescMagic = []byte("MSSNAPD1")

func encodeSnapDesc(f *wal.SnapFile) []byte {
	b := append([]byte(nil), snapDescMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.Size))
	return binary.BigEndian.AppendUint32(b, f.CRC)
}

// engineHeldDesc is the Data of an engine-held snapshot: its state is in
// the durable engine, and no file stands for it.
var engineHeldDesc = []byte("MSSNAPE1")

func isEngineHeld(data []byte) bool { return string(data) == string(engineHeldDesc) }

func decodeSnapDesc(data []byte) (size int64, crc uint32, ok bool) {
	if len(data) != len(snapDescMagic)+12 || string(data[:len(snapDescMagic)]) != string(snapDescMagic) {
		return 0, 0, false
	}
	d := data[len(snapDescMagic):]
	return int64(binary.BigEndian.Uint64(d)), binary.BigEndian.Uint32(d[8:]), true
}

// raftSnapshot is the snapshot raft stores and sends for file f.
func raftSnapshot(f *wal.SnapFile) *raftpb.Snapshot {
	return &raftpb.Snapshot{Metadata: f.Meta, Data: snapDesc(f)}
}

// snapDesc is the Data of raft's snapshot for file f: engineHeldDesc when
// f holds only the metadata, else f's descriptor.
func snapDesc(f *wal.SnapFile) []byte {
	if f.MetadataOnly() {
		return engineHeldDesc
	}
	return encodeSnapDesc(f)
}

// SnapshotJob is snapshot work to do off the driving loop, of one of three
// kinds: a frozen engine view at Index streamed into the snapshot file
// (memory engine); an engine-held snapshot (EngineHeld: sync the engine,
// record the metadata); or a file for followers (ForSending: a frozen view
// streamed into a file that is sent, not kept). Run it once, on any
// goroutine, then hand the result to Replica.SnapshotDone on the driving
// goroutine; or call Abandon if the replica is gone.
type SnapshotJob struct {
	Index, Term uint64
	// Bytes is the size of the file written; set by Run.
	Bytes int64
	// EngineHeld: the durable engine holds the state; Run syncs it and
	// writes only the metadata.
	EngineHeld bool
	// ForSending: the file is made for the followers whose MsgSnaps wait
	// for it; it is never a snapshot of this replica.
	ForSending bool
	// Pace, when set, is called by Run after each piece of the store it
	// writes (about 64 KiB). A dump of the whole store is one long burst
	// of CPU; production yields the processor here so that the requests
	// waiting for a core run first, instead of waiting out the burst.
	Pace func()

	conf   *raftpb.ConfState
	view   engine.Snapshot // nil for EngineHeld
	syncer engine.Syncer   // EngineHeld only
	disk   Disk
	dir    string
	file   *wal.SnapFile
	// sends are the MsgSnaps waiting for the file (ForSending).
	sends []*raftpb.Message
}

// Run does the job: it touches nothing of the replica but its Disk (which
// must allow use from Run's goroutine), the view and the engine's Sync.
// A snapshot's file is durable when Run returns; a file for sending is
// not synced (nothing depends on it surviving a crash).
func (j *SnapshotJob) Run() error {
	md := &raftpb.SnapshotMetadata{Index: proto.Uint64(j.Index), Term: proto.Uint64(j.Term), ConfState: j.conf}
	if j.EngineHeld {
		// NB: the sync comes before the file. Once the file or its WAL
		// marker is durable, recovery replays the log only after Index and
		// WAL segments up to Index may be gone: the engine must hold every
		// entry up to Index whatever crashes next.
		if err := j.syncer.Sync(); err != nil {
			return fmt.Errorf("core: sync engine for snapshot %d: %w", j.Index, err)
		}
		f, err := wal.SaveSnapshot(j.disk, j.dir, md, nil)
		if err != nil {
			return err
		}
		j.file, j.Bytes = f, f.Size
		return nil
	}
	defer j.view.Close()
	create := wal.CreateSnapshot
	if j.ForSending {
		create = wal.CreateSendFile
	}
	w, err := create(j.disk, j.dir, md)
	if err != nil {
		return err
	}
	var out io.Writer = w
	if j.Pace != nil {
		out = pacedWriter{w: w, pace: j.Pace}
	}
	if _, err := mvcc.WriteSnapshot(j.view, out); err != nil {
		w.Abort()
		return fmt.Errorf("core: write snapshot %d: %w", j.Index, err)
	}
	f, err := w.Commit()
	if err != nil {
		return err
	}
	j.file, j.Bytes = f, f.Size
	return nil
}

// pacedWriter calls pace after each write it passes on. It lends w's
// buffer and checksum, so that the store's stream is encoded straight into
// the one and checksummed once, by the other.
type pacedWriter struct {
	w    *wal.SnapWriter
	pace func()
}

var (
	_ mvcc.BufferedWriter     = pacedWriter{}
	_ mvcc.ChecksummingWriter = pacedWriter{}
)

func (p pacedWriter) AvailableBuffer() []byte { return p.w.AvailableBuffer() }

func (p pacedWriter) Checksum() (uint32, int64) { return p.w.Checksum() }

func (p pacedWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.pace()
	return n, err
}

// Abandon releases the view of a job that will not run.
func (j *SnapshotJob) Abandon() {
	if j.view != nil {
		_ = j.view.Close()
	}
}

// SnapshotJob returns a job HandleReady prepared and not yet handed out,
// or nil; call it until nil after each round. The caller must run each job
// and report it (SnapshotDone): until then no other snapshot is taken and
// the raft log is not compacted, or no other file for sending is made. At
// most two are out at once: a snapshot and a file for sending.
func (r *Replica) SnapshotJob() *SnapshotJob {
	switch {
	case r.snapJob != nil && !r.snapJobOut:
		r.snapJobOut = true
		return r.snapJob
	case r.sendJob != nil && !r.sendJobOut:
		r.sendJobOut = true
		return r.sendJob
	}
	return nil
}

// SnapshotDone completes a job handed out by SnapshotJob, with Run's error.
// A write error is fatal (fail-stop), as any persistence error. On success
// the WAL marker is written, raft is given the snapshot, and the raft log
// and the WAL are compacted behind it.
func (r *Replica) SnapshotDone(job *SnapshotJob, runErr error) error {
	if r.failed != nil {
		return r.failed
	}
	if job.ForSending {
		return r.sendFileDone(job, runErr)
	}
	if job != r.snapJob {
		return nil // not this replica's job
	}
	r.snapJob, r.snapJobOut = nil, false
	if runErr != nil {
		return r.fail(fmt.Errorf("core: snapshot at %d: %w", job.Index, runErr))
	}
	if job.Index <= r.snapIndex {
		// A leader's snapshot was installed meanwhile; this one is older.
		r.queueWAL(nil, 0)
		return r.failIf(r.maybeSnapshot())
	}
	// The marker, the release of the segments it covers and the purge go
	// through the append stage, which owns the WAL (HandleReady, rule 5).
	// Until the marker is durable, recovery finds the file newer than the
	// marker and writes it then; segments are released only after it.
	r.queueWAL(&wal.SnapMarker{Index: job.Index, Term: job.Term}, job.Index)
	if _, err := r.storage.CreateSnapshot(job.Index, job.conf, snapDesc(job.file)); err != nil {
		return r.fail(fmt.Errorf("core: create snapshot at %d: %w", job.Index, err))
	}
	r.snapIndex = job.Index
	r.snapBytes = r.storeBytesIn(job.file)
	c := r.compactIndex(job.Index)
	if first, err := r.storage.FirstIndex(); err == nil && r.syncer == nil {
		c = min(c, r.keepIndex(r.store.AppliedIndex(), first))
	}
	if c > 0 {
		if err := r.storage.Compact(c); err != nil && err != raft.ErrCompacted {
			return r.fail(fmt.Errorf("core: compact raft log: %w", err))
		}
	}
	// NB: a snapshot asked for while this one was out (a member was added:
	// snapshotDue) is taken now; waiting for the next apply could wait
	// forever on an idle cluster, with the joiner refusing this one.
	return r.failIf(r.maybeSnapshot())
}

// snapshotsKept is how many snapshot files a purge leaves.
const snapshotsKept = 2

// snapshotLogRatio bounds how often the whole store is written: a snapshot
// waits until the entries applied since the last one hold 1/2 of its size,
// so a snapshot costs at most two bytes written per byte of writes
// (besides the SnapshotEntries count), and a restart replays at most half
// the store's size of WAL. See Config.SnapshotEntries. It was 6 while the
// raft log held every entry since the last snapshot in memory; since the
// log is trimmed behind the applied index (maybeTrimLog, Config.LogKeepBytes)
// the cadence no longer costs memory.
// NB: at 8 a million-key load wrote snapshots worth about eight times the
// final store, and the snapshot job was 8.5% of the CPU of put at 1,000
// clients; 4 and 6 held a quarter and a sixth of the store as raft log in
// memory before the trim.
const snapshotLogRatio = 2

// SnapshotInline runs the pending snapshot jobs to completion on the
// calling goroutine: for drivers without a background stage (tests, tools).
func (r *Replica) SnapshotInline() error {
	for job := r.SnapshotJob(); job != nil; job = r.SnapshotJob() {
		if err := r.SnapshotDone(job, job.Run()); err != nil {
			return err
		}
	}
	return nil
}

func (r *Replica) failIf(err error) error {
	if err != nil {
		return r.fail(err)
	}
	return nil
}

// maybeSnapshot prepares a snapshot job every SnapshotEntries applied
// entries; the log is compacted when it completes, keeping CatchUpEntries
// for followers that lag a little.
func (r *Replica) maybeSnapshot() error {
	applied := r.store.AppliedIndex()
	if r.snapJob != nil || applied <= r.snapIndex {
		return nil
	}
	due := (applied-r.snapIndex >= r.cfg.SnapshotEntries || r.logBytesDue()) && r.appliedBytes*snapshotLogRatio >= r.snapBytes
	if !due && !r.snapshotDue {
		return nil
	}
	r.snapshotDue = false
	r.appliedBytes = 0
	term, err := r.storage.Term(applied)
	if err != nil {
		return fmt.Errorf("core: term of applied index %d: %w", applied, err)
	}
	r.snapJob = &SnapshotJob{
		Index: applied, Term: term,
		conf: proto.Clone(r.confState).(*raftpb.ConfState),
		disk: r.cfg.Disk, dir: r.snapDir,
	}
	if r.syncer != nil {
		r.snapJob.EngineHeld, r.snapJob.syncer = true, r.syncer
	} else {
		r.snapJob.view = r.engineView()
	}
	return nil
}

// storeBytesIn is the store's size as snapshot file f makes it known, for
// the snapshot cadence (snapshotLogRatio): none when the engine holds the
// state, since an engine-held snapshot writes nothing in proportion to it.
func (r *Replica) storeBytesIn(f *wal.SnapFile) int64 {
	if r.syncer != nil {
		return 0
	}
	return f.Size
}

// installSnapshot replaces the log and the store with a leader's snapshot.
func (r *Replica) installSnapshot(snap *raftpb.Snapshot, f *wal.SnapFile) error {
	if err := r.storage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("core: raft storage snapshot: %w", err)
	}
	if err := r.restoreStore(f); err != nil {
		return err
	}
	r.snapIndex = snap.GetMetadata().GetIndex()
	r.snapBytes, r.appliedBytes = r.storeBytesIn(f), 0
	r.confState = snap.GetMetadata().GetConfState()
	r.installs++
	r.lessor.reset(r)
	r.reads.serve(r)
	return nil
}

// restoreStore replaces the store with the contents of snapshot file f.
func (r *Replica) restoreStore(f *wal.SnapFile) error {
	body, err := f.OpenPayload(r.cfg.Disk)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := r.store.RestoreFrom(body); err != nil {
		return fmt.Errorf("core: restore snapshot %d: %w", f.Meta.GetIndex(), err)
	}
	return nil
}

// checkSnapshotMessage refuses a MsgSnap whose file was not received.
func (r *Replica) checkSnapshotMessage(m *raftpb.Message) error {
	md := m.GetSnapshot().GetMetadata()
	size, _, ok := decodeSnapDesc(m.GetSnapshot().GetData())
	if !ok || !wal.HasSnapshot(r.cfg.Disk, r.snapDir, md.GetTerm(), md.GetIndex(), size) {
		return ErrSnapshotMissing
	}
	return nil
}

// SnapshotFiles is a replica's snapshot directory as the world's transport
// uses it: Open on the sending side, Receive on the receiving side. Its
// methods touch only the Disk, so they may run on any goroutine when the
// Disk allows that (the OS's does).
type SnapshotFiles struct {
	disk Disk
	dir  string
}

// NewSnapshotFiles returns the snapshot files of the replica whose
// Config.Dir is dataDir on d.
func NewSnapshotFiles(d Disk, dataDir string) SnapshotFiles {
	return SnapshotFiles{disk: d, dir: path.Join(dataDir, "snap")}
}

// SnapshotFiles returns this replica's snapshot files.
func (r *Replica) SnapshotFiles() SnapshotFiles {
	return SnapshotFiles{disk: r.cfg.Disk, dir: r.snapDir}
}

// Open opens the file the snapshot of MsgSnap m stands for, to be sent
// after m: its whole contents, and its length. Close it. The file is the
// one made for sending (an engine-held snapshot's MsgSnap, rewritten), or
// else the snapshot file itself.
func (s SnapshotFiles) Open(m *raftpb.Message) (io.ReadCloser, int64, error) {
	md := m.GetSnapshot().GetMetadata()
	size, _, ok := decodeSnapDesc(m.GetSnapshot().GetData())
	if !ok {
		return nil, 0, fmt.Errorf("core: MsgSnap %d carries no snapshot descriptor", md.GetIndex())
	}
	f, err := wal.StatSendFile(s.disk, s.dir, md.GetTerm(), md.GetIndex())
	if err != nil || f.Size != size {
		f, err = wal.StatSnapshot(s.disk, s.dir, md.GetTerm(), md.GetIndex())
	}
	if err != nil {
		return nil, 0, err
	}
	if f.Size != size {
		return nil, 0, fmt.Errorf("core: snapshot %d is %d bytes, its descriptor says %d", md.GetIndex(), f.Size, size)
	}
	rc, err := f.Open(s.disk)
	return rc, size, err
}

// Receive stores body, the file sent with MsgSnap m, checking it against
// m's descriptor (size and checksum), and syncs it. Call it before
// stepping m.
func (s SnapshotFiles) Receive(m *raftpb.Message, body io.Reader) error {
	md := m.GetSnapshot().GetMetadata()
	size, crc, ok := decodeSnapDesc(m.GetSnapshot().GetData())
	if !ok {
		return fmt.Errorf("core: MsgSnap %d carries no snapshot descriptor", md.GetIndex())
	}
	if err := s.disk.MkdirAll(s.dir); err != nil {
		return err
	}
	return wal.ReceiveSnapshot(s.disk, s.dir, md.GetTerm(), md.GetIndex(), size, crc, body)
}

// EngineSnapshot returns a consistent view of the engine at the applied
// index, for streaming the store elsewhere (etcd's snapshot save) off the
// driving goroutine with mvcc.WriteSnapshot. Close it.
func (r *Replica) EngineSnapshot() engine.Snapshot { return r.engineView() }

// engineView freezes the engine as of the last applied entry. Inside the
// store's apply group the engine's applied index lags the data (see
// mvcc.Store.BeginApplyGroup), and a view taken there would stand for an
// index it does not name: that is a bug in the caller.
func (r *Replica) engineView() engine.Snapshot {
	if r.store.InApplyGroup() {
		panic("core: engine view taken while applying entries")
	}
	return r.cfg.Engine.Snapshot()
}
