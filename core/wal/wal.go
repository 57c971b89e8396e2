package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
)

var (
	// ErrCorrupt is wrapped by Open's errors for damage that is not a torn
	// tail; the message names the file and the byte offset.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
)

// DefaultSegmentBytes is the segment size when Options leaves it zero.
const DefaultSegmentBytes = 64 << 20

// Options tunes a WAL. The zero value takes the defaults.
type Options struct {
	// SegmentBytes: Save starts a new segment once the current one holds
	// at least this many bytes. Segments may exceed it by one Save.
	SegmentBytes int64
	// ZeroAheadBytes, when positive, keeps zeros written ahead of the log's
	// end in the last segment, in chunks of this many bytes: a Save that
	// brings the end within a quarter chunk of the zeroed end also writes
	// the next chunk, and its own sync makes the chunk durable. A sync then
	// mostly overwrites blocks the file already has, which on ext4 needs
	// no journal commit (a sync of a file that grew does): 6 KB appends
	// synced with fdatasync took ~100-200 µs instead of ~165-460 µs
	// (BenchmarkWALSaveOSDisk in core/realworld). Zero keeps the file
	// exactly as long as the log.
	ZeroAheadBytes int64
}

// WAL appends records to the last segment of a log directory. It is not
// safe for concurrent use.
type WAL struct {
	fs           disk.FS
	dir          string
	segmentBytes int64

	segs []segment // live segments, oldest first; f is the last one
	f    disk.File
	size int64 // bytes of records in f: where the next record goes

	zeroAhead int64  // Options.ZeroAheadBytes
	zeroEnd   int64  // f's size: zeros from size up to here (>= size)
	zeros     []byte // zeroAhead zero bytes, written at zeroEnd

	// lastIndex is the index of the last entry written, or of the newest
	// marker when that is higher; the next segment's name starts after it.
	lastIndex uint64
	hs        hardState  // newest saved
	snap      SnapMarker // newest saved

	buf []byte // reused encoding buffer
	err error  // first write or sync failure; sticky
}

// hardState is a HardState kept by value, so Save allocates nothing.
type hardState struct {
	set                bool
	term, vote, commit uint64
}

func (h hardState) proto() *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(h.term), Vote: proto.Uint64(h.vote), Commit: proto.Uint64(h.commit)}
}

func isEmptyHardState(hs *raftpb.HardState) bool {
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0
}

func newWAL(fsys disk.FS, dir string, opts Options) *WAL {
	w := &WAL{fs: fsys, dir: dir, segmentBytes: opts.SegmentBytes, zeroAhead: max(opts.ZeroAheadBytes, 0)}
	if w.segmentBytes <= 0 {
		w.segmentBytes = DefaultSegmentBytes
	}
	if w.zeroAhead > 0 {
		w.zeros = make([]byte, w.zeroAhead)
	}
	return w
}

// Create starts a brand-new log in dir, creating dir if needed. It fails
// (wrapping fs.ErrExist) when dir already holds a segment.
func Create(fsys disk.FS, dir string, opts Options) (*WAL, error) {
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	if len(segs) > 0 {
		return nil, fmt.Errorf("wal: create %s: %w", dir, fs.ErrExist)
	}
	// NB: make dir's own entry durable before anything lives in it.
	if err := fsys.SyncDir(path.Dir(path.Clean(dir))); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	w := newWAL(fsys, dir, opts)
	if err := w.startSegment(segment{seq: 1, first: 1}); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	return w, nil
}

// Save appends ents, then hs (skipped when nil or empty), in one write, and
// when sync is set returns only once they are durable. Entries go first so
// that a torn write never keeps a HardState whose commit index points past
// entries it lost.
//
// An error means the WAL is unusable: every later call returns it, and the
// caller must stop the replica rather than retry (fail-stop).
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	if err := w.usable(); err != nil {
		return err
	}
	writeHS := !isEmptyHardState(hs)
	if w.size >= w.segmentBytes && (len(ents) > 0 || writeHS) {
		if err := w.cut(); err != nil {
			return w.fail("cut segment", err)
		}
	}
	buf := w.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = appendEntry(buf, e); err != nil {
			return fmt.Errorf("wal: encode entry %d: %w", e.GetIndex(), err) // nothing written
		}
	}
	if writeHS {
		if buf, err = appendHardState(buf, hs); err != nil {
			return fmt.Errorf("wal: encode hard state: %w", err)
		}
	}
	if err := w.write(buf); err != nil {
		return err
	}
	if len(ents) > 0 {
		w.lastIndex = ents[len(ents)-1].GetIndex()
	}
	if writeHS {
		w.hs = hardState{set: true, term: hs.GetTerm(), vote: hs.GetVote(), commit: hs.GetCommit()}
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return w.fail("sync", err)
		}
	}
	return nil
}

// Sync makes every record written so far durable: the append stage writes
// a group of Ready rounds with Save(…, false) and syncs once. Errors are
// fatal as in Save.
func (w *WAL) Sync() error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return w.fail("sync", err)
	}
	return nil
}

// SaveSnapshot appends a marker for a snapshot the replica has made
// durable (its file saved first) and syncs. On recovery the newest marker
// bounds the entries returned. Errors are fatal as in Save.
func (w *WAL) SaveSnapshot(m SnapMarker) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.write(appendMarker(w.buf[:0], m)); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return w.fail("sync", err)
	}
	if m.Index >= w.snap.Index {
		w.snap = m
	}
	w.lastIndex = max(w.lastIndex, m.Index)
	return nil
}

// ReleaseTo removes the oldest segments whose entries all have indexes <=
// index, never the last segment. index must not exceed the newest snapshot
// marker saved: the entries removed must be covered by a snapshot.
//
// Before removing anything it re-saves the newest HardState and marker in
// the last segment, so no removal can lose them. A failure to remove a
// segment is returned but does not poison the WAL.
func (w *WAL) ReleaseTo(index uint64) error {
	if err := w.usable(); err != nil {
		return err
	}
	if index > w.snap.Index {
		return fmt.Errorf("wal: release to %d: beyond the newest snapshot marker %d", index, w.snap.Index)
	}
	n := 0 // segments to remove
	for n+1 < len(w.segs) && w.segs[n+1].first-1 <= index {
		n++
	}
	if n == 0 {
		return nil
	}
	buf := w.buf[:0]
	if w.hs.set {
		buf, _ = appendHardState(buf, w.hs.proto())
	}
	buf = appendMarker(buf, w.snap)
	if err := w.write(buf); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return w.fail("sync", err)
	}
	// NB: oldest first, one SyncDir each, so a crash leaves a suffix of the
	// segments with consecutive sequence numbers.
	for ; n > 0; n-- {
		if err := w.fs.Remove(path.Join(w.dir, w.segs[0].name())); err != nil && !errors.Is(err, disk.ErrNotExist) {
			return fmt.Errorf("wal: release: %w", err)
		}
		if err := w.fs.SyncDir(w.dir); err != nil {
			return fmt.Errorf("wal: release: %w", err)
		}
		w.segs = w.segs[1:]
	}
	return nil
}

// Close syncs and closes the last segment. Later calls return ErrClosed,
// except Close itself, which returns nil.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	var err error
	if w.err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}

func (w *WAL) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return ErrClosed
	}
	return nil
}

// fail makes err sticky: after a failed write or sync the file's state is
// unknown, and nothing written later could be trusted to follow it.
func (w *WAL) fail(op string, err error) error {
	w.err = fmt.Errorf("wal: %s %s: %w (WAL unusable: fail-stop)", op, path.Join(w.dir, w.segs[len(w.segs)-1].name()), err)
	return w.err
}

// write appends buf to the log in the last segment, then the next chunk of
// zeros if the log's end came near the zeroed end, and keeps buf for reuse.
//
// NB: records first: a batch longer than the zeros ahead moves the end past
// the zeroed end, and the next chunk goes after it. Both are durable with
// the caller's sync.
func (w *WAL) write(buf []byte) error {
	if cap(buf) <= 1<<20 { // don't pin one huge batch's buffer forever
		w.buf = buf[:0]
	}
	if len(buf) == 0 {
		return nil
	}
	var n int
	var err error
	if w.zeroAhead > 0 {
		n, err = w.f.WriteAt(buf, w.size)
	} else {
		n, err = w.f.Write(buf)
	}
	w.size += int64(n)
	w.zeroEnd = max(w.zeroEnd, w.size)
	if err != nil {
		return w.fail("write", err)
	}
	if err := w.zeroAheadOfEnd(); err != nil {
		return w.fail("write zeros", err)
	}
	return nil
}

// zeroAheadOfEnd writes the next chunk of zeros at the zeroed end when the
// log's end is within a quarter chunk of it. The chunk is durable with the
// next sync of the segment.
func (w *WAL) zeroAheadOfEnd() error {
	if w.zeroAhead == 0 || w.size+w.zeroAhead/4 < w.zeroEnd {
		return nil
	}
	n, err := w.f.WriteAt(w.zeros, w.zeroEnd)
	w.zeroEnd += int64(n)
	return err
}

// cut syncs the last segment and starts the next one. NB: the old segment
// is synced before the new one exists, so only the last segment can ever
// hold a torn tail; and it is first cut to its last record, so only the
// last segment ever holds zeros after its records.
func (w *WAL) cut() error {
	if w.zeroEnd > w.size {
		if err := w.f.Truncate(w.size); err != nil {
			return err
		}
		w.zeroEnd = w.size
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	old := w.f
	last := w.segs[len(w.segs)-1]
	if err := w.startSegment(segment{seq: last.seq + 1, first: w.lastIndex + 1}); err != nil {
		return err
	}
	return old.Close()
}

// startSegment creates s and makes its file, empty or holding only the
// first chunk of zeros, and its name durable.
func (w *WAL) startSegment(s segment) error {
	f, err := w.fs.Create(path.Join(w.dir, s.name()))
	if err != nil {
		return err
	}
	var zeroEnd int64
	if w.zeroAhead > 0 {
		n, err := f.WriteAt(w.zeros, 0)
		if err != nil {
			f.Close()
			return err
		}
		zeroEnd = int64(n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.segs = append(w.segs, s)
	w.f, w.size, w.zeroEnd = f, 0, zeroEnd
	return nil
}
