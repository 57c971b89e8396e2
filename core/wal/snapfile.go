package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
)

// Snapshot files are named %016x-%016x.snap (term, index) and hold
//
//	"MSSNAP2\n" | u32 LE n | n bytes raftpb.SnapshotMetadata | payload | u32 LE crc32c
//
// where the checksum covers everything before it. The payload is the state
// machine's own stream (core/mvcc's snapshot format), or nothing: an empty
// payload records a snapshot whose state a durable engine holds (core's
// engine-held snapshots: the file keeps only the metadata, which recovery
// needs for raft). Files are written and read in pieces: no snapshot is
// ever held whole in memory.
//
// A file made only to be sent to a follower is named %016x-%016x.send: it
// is never loaded at recovery, never synced, and removed once sent
// (RemoveSendFiles) or at the next boot (RemoveSaveLeftovers).
//
// A snapshot received from a leader is first stored as <name>.recv (checked
// against the size and checksum the leader announced, and synced), then
// renamed to <name> when raft accepts it (InstallReceived).

const (
	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"
	recvSuffix = ".recv"
	sendSuffix = ".send"
	// snapIOBytes is the piece size of snapshot file reads.
	snapIOBytes = 256 << 10
	// snapWriteBytes is the piece size of snapshot file writes. A direct
	// file (disk.DirectFS) is written by the device while write(2) waits:
	// on the test VM 1 MiB pieces wrote 1.7 GB/s where 256 KiB ones wrote
	// 1.1 GB/s.
	snapWriteBytes = 1 << 20
	// snapFirstWriteBytes is the first piece's size: the buffer doubles
	// with each full piece up to snapWriteBytes, so that a small snapshot
	// (the simulator's are a few KiB, and it takes thousands) does not
	// allocate and zero a mebibyte; a large one allocates about twice it.
	snapFirstWriteBytes = 64 << 10
	// snapSyncBytes is how much of a snapshot file may be written and not
	// yet synced. The WAL shares the disk: one sync of a whole 9 MB file
	// at the end took 12 ms, and the WAL's fdatasyncs that fell in it
	// waited behind the file's data (append jobs of 2-9 ms instead of 1).
	// Synced as it goes, the file leaves a WAL sync at most this much to
	// wait for. Written direct, the file leaves no dirty pages behind, and
	// a sync is only the device's cache and the file's size: syncing every
	// 1 MiB made a 303 MB snapshot take 0.45-0.56 s instead of 0.29-0.35 s,
	// with 4 KiB fdatasyncs beside it no faster at p99 (busy machine:
	// 4-12 ms either way, BenchmarkSnapshotOSDisk/beside-wal).
	snapSyncBytes = 8 << 20
)

var snapFileMagic = []byte("MSSNAP2\n")

type snapName struct{ term, index uint64 }

func (s snapName) String() string { return fmt.Sprintf("%016x-%016x%s", s.term, s.index, snapSuffix) }

func (s snapName) sendName() string { return fmt.Sprintf("%016x-%016x%s", s.term, s.index, sendSuffix) }

func parseSendName(name string) (snapName, bool) {
	base, found := strings.CutSuffix(name, sendSuffix)
	if !found {
		return snapName{}, false
	}
	return parseSnapName(base + snapSuffix)
}

func parseSnapName(name string) (snapName, bool) {
	base, found := strings.CutSuffix(name, snapSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return snapName{}, false
	}
	term, err1 := strconv.ParseUint(base[:16], 16, 64)
	index, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return snapName{}, false
	}
	return snapName{term: term, index: index}, true
}

// SnapFile describes one intact snapshot file.
type SnapFile struct {
	Meta *raftpb.SnapshotMetadata
	Path string
	Size int64  // bytes of the whole file
	CRC  uint32 // its trailing checksum

	payloadOff int64
}

// PayloadSize is the length of the state machine's stream in the file.
func (s *SnapFile) PayloadSize() int64 { return s.Size - 4 - s.payloadOff }

// MetadataOnly reports whether the file holds no state machine stream: a
// snapshot whose state a durable engine holds.
func (s *SnapFile) MetadataOnly() bool { return s.PayloadSize() == 0 }

// OpenPayload opens the state machine's stream for reading. Close it.
func (s *SnapFile) OpenPayload(fsys disk.FS) (io.ReadCloser, error) {
	f, err := fsys.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("wal: open snapshot: %w", err)
	}
	return sectionCloser{io.NewSectionReader(f, s.payloadOff, s.PayloadSize()), f}, nil
}

// Open opens the whole file for reading (to send it to a peer). Close it.
func (s *SnapFile) Open(fsys disk.FS) (io.ReadCloser, error) {
	f, err := fsys.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("wal: open snapshot: %w", err)
	}
	return sectionCloser{io.NewSectionReader(f, 0, s.Size), f}, nil
}

type sectionCloser struct {
	*io.SectionReader
	f disk.File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// SnapWriter writes one snapshot file: a temporary file, which Commit
// completes, syncs and renames into place. It buffers the payload and
// writes it in snapWriteBytes pieces; a caller that encodes straight into
// its buffer (AvailableBuffer) saves a copy. It uses only its own file, so
// it may run on another goroutine than the WAL's owner (given an FS that
// allows that, as the OS's does).
//
// A snapshot to keep is written as a direct file (disk.DirectFS: on Linux,
// O_DIRECT) where the disk makes them: see snapWriteBytes. Its last piece
// is padded to disk.DirectAlign and the file cut back to its size before
// the final sync; until that sync and the rename a crash leaves only the
// .tmp file, which recovery ignores and removes, as before.
type SnapWriter struct {
	fsys       disk.FS
	dir        string
	name       snapName
	final      string // the file's name once committed
	send       bool   // a file to send: Commit does not sync it
	direct     bool   // written as a direct file: aligned pieces
	f          disk.File
	buf        []byte
	summed     int         // bytes of buf already in crc
	crc        hash.Hash32 // of the payload (the header's is headCRC)
	headCRC    uint32
	size       int64
	payloadOff int64
	meta       *raftpb.SnapshotMetadata
	err        error
	unsynced   int // bytes written since the last sync (snapSyncBytes)
}

// CreateSnapshot starts the snapshot file for md in dir (which must exist).
func CreateSnapshot(fsys disk.FS, dir string, md *raftpb.SnapshotMetadata) (*SnapWriter, error) {
	return createSnapshot(fsys, dir, md, false)
}

// CreateSendFile starts a snapshot file for md in dir to be sent to a
// follower, not kept: it is named apart (.send), never found by recovery,
// and Commit does not sync it (a crash loses nothing the replica needs;
// the receiver syncs its own copy). It goes through the OS's cache, not
// direct: it is read back to be sent soon after.
func CreateSendFile(fsys disk.FS, dir string, md *raftpb.SnapshotMetadata) (*SnapWriter, error) {
	return createSnapshot(fsys, dir, md, true)
}

func createSnapshot(fsys disk.FS, dir string, md *raftpb.SnapshotMetadata, send bool) (*SnapWriter, error) {
	if md.GetIndex() == 0 {
		return nil, errors.New("wal: save snapshot: empty snapshot (index 0)")
	}
	meta, err := proto.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("wal: encode snapshot metadata: %w", err)
	}
	w := &SnapWriter{fsys: fsys, dir: dir, name: snapName{md.GetTerm(), md.GetIndex()}, send: send,
		crc: crc32.New(castagnoli), meta: md}
	w.final = w.name.String()
	if send {
		w.final = w.name.sendName()
		w.f, err = fsys.Create(w.tmpPath())
		w.buf = make([]byte, 0, snapFirstWriteBytes)
	} else {
		w.f, err = disk.CreateDirect(fsys, w.tmpPath())
		w.buf, w.direct = disk.AlignedBuffer(snapFirstWriteBytes), true
	}
	if err != nil {
		return nil, fmt.Errorf("wal: save snapshot: %w", err)
	}
	w.Write(snapFileMagic)
	w.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))
	w.Write(meta)
	w.payloadOff = w.size
	w.checksum()
	w.headCRC = w.crc.Sum32()
	w.crc.Reset()
	return w, w.err
}

func (w *SnapWriter) tmpPath() string { return path.Join(w.dir, w.final+tmpSuffix) }

// AvailableBuffer returns an empty slice over the free room of w's buffer.
// Bytes appended to it (up to its capacity) and passed to Write go into the
// file without being copied again, as with bufio.Writer's.
func (w *SnapWriter) AvailableBuffer() []byte { return w.buf[len(w.buf):len(w.buf)] }

// Checksum returns the CRC-32C (Castagnoli) of the payload written so far
// and its length. The store's stream, which is the whole payload of a
// snapshot file, takes its own checksum from it (mvcc.WriteSnapshot)
// instead of reading every byte a second time.
func (w *SnapWriter) Checksum() (uint32, int64) {
	w.checksum()
	return w.crc.Sum32(), w.size - w.payloadOff
}

// Write appends p to the payload.
func (w *SnapWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.size += int64(n)
	if n > 0 && n <= cap(w.buf)-len(w.buf) && &p[0] == &w.buf[:len(w.buf)+1][len(w.buf)] {
		// Appended in place to AvailableBuffer's slice.
		w.buf = w.buf[:len(w.buf)+n]
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
		return n, w.err
	}
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
	}
	return n, w.err
}

// checksum adds the buffered bytes not yet in it to the file's checksum:
// one call per piece, however small the writes.
func (w *SnapWriter) checksum() {
	w.crc.Write(w.buf[w.summed:])
	w.summed = len(w.buf)
}

// flush writes the buffer out. Every piece but a direct file's last is
// the whole buffer, a multiple of disk.DirectAlign.
func (w *SnapWriter) flush() {
	full := len(w.buf) == cap(w.buf)
	w.checksum()
	if w.err == nil && len(w.buf) > 0 {
		if _, err := w.f.Write(w.buf); err != nil {
			w.err = fmt.Errorf("wal: save snapshot: %w", err)
		}
		w.unsynced += len(w.buf)
		if w.err == nil && !w.send && w.unsynced >= snapSyncBytes {
			if err := w.f.Sync(); err != nil {
				w.err = fmt.Errorf("wal: save snapshot: %w", err)
			}
			w.unsynced = 0
		}
	}
	w.buf, w.summed = w.buf[:0], 0
	if full && cap(w.buf) < snapWriteBytes {
		if n := 2 * cap(w.buf); w.direct {
			w.buf = disk.AlignedBuffer(n)
		} else {
			w.buf = make([]byte, 0, n)
		}
	}
}

// Commit writes the checksum, syncs the file, renames it into place and
// syncs dir. It returns only once the snapshot would survive a crash;
// errors are fatal to the replica as in Save.
func (w *SnapWriter) Commit() (*SnapFile, error) {
	w.checksum()
	sum := crc32cCombine(w.headCRC, w.crc.Sum32(), w.size-w.payloadOff)
	// NB: the checksum's own bytes reach crc in flush; it was read first.
	w.Write(binary.LittleEndian.AppendUint32(nil, sum))
	padded := false
	if tail := len(w.buf) % disk.DirectAlign; w.direct && tail != 0 {
		// Within the buffer: its capacity is a multiple of DirectAlign.
		n := len(w.buf) + disk.DirectAlign - tail
		clear(w.buf[len(w.buf):n])
		w.buf, padded = w.buf[:n], true
	}
	w.flush()
	if padded && w.err == nil {
		if err := w.f.Truncate(w.size); err != nil {
			w.err = fmt.Errorf("wal: save snapshot: %w", err)
		}
	}
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	if !w.send {
		if err := w.f.Sync(); err != nil {
			w.Abort()
			return nil, fmt.Errorf("wal: save snapshot: %w", err)
		}
	}
	if err := w.f.Close(); err != nil {
		return nil, fmt.Errorf("wal: save snapshot: %w", err)
	}
	w.f = nil
	final := path.Join(w.dir, w.final)
	if err := w.fsys.Rename(w.tmpPath(), final); err != nil {
		return nil, fmt.Errorf("wal: save snapshot: %w", err)
	}
	if w.send {
		return &SnapFile{Meta: w.meta, Path: final, Size: w.size, CRC: sum, payloadOff: w.payloadOff}, nil
	}
	if err := w.fsys.SyncDir(w.dir); err != nil {
		return nil, fmt.Errorf("wal: save snapshot: %w", err)
	}
	return &SnapFile{Meta: w.meta, Path: final, Size: w.size, CRC: sum, payloadOff: w.payloadOff}, nil
}

// Abort gives the file up (closing it; PurgeSnapshots removes it later).
func (w *SnapWriter) Abort() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	if w.err == nil {
		w.err = errors.New("wal: snapshot aborted")
	}
}

// SaveSnapshot writes a whole snapshot file from md and payload and makes
// it durable (CreateSnapshot, Write, Commit in one call).
func SaveSnapshot(fsys disk.FS, dir string, md *raftpb.SnapshotMetadata, payload []byte) (*SnapFile, error) {
	w, err := CreateSnapshot(fsys, dir, md)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(payload); err != nil {
		w.Abort()
		return nil, err
	}
	return w.Commit()
}

// LoadNewestSnapshot returns the snapshot of highest index (then term) in
// dir that reads back intact (its whole checksum is verified), skipping
// damaged files; nil, nil when there is none or dir does not exist. Read
// errors other than damage are returned.
func LoadNewestSnapshot(fsys disk.FS, dir string) (*SnapFile, error) {
	names, err := listSnapshots(fsys, dir)
	if err != nil {
		return nil, err
	}
	for _, n := range slices.Backward(names) {
		snap, err := readSnapshot(fsys, path.Join(dir, n.String()), n)
		if errors.Is(err, ErrCorrupt) {
			continue
		}
		return snap, err
	}
	return nil, nil
}

// StatSnapshot describes the snapshot file of (term, index) in dir from its
// header and size, without reading it whole (a file this replica wrote and
// synced; a receiver checks the checksum itself).
func StatSnapshot(fsys disk.FS, dir string, term, index uint64) (*SnapFile, error) {
	n := snapName{term, index}
	return readSnapshotHeader(fsys, path.Join(dir, n.String()), n)
}

// StatSendFile describes the file made to send for (term, index) in dir
// (CreateSendFile), as StatSnapshot does.
func StatSendFile(fsys disk.FS, dir string, term, index uint64) (*SnapFile, error) {
	n := snapName{term, index}
	return readSnapshotHeader(fsys, path.Join(dir, n.sendName()), n)
}

// RemoveUnfinishedSendFile removes what a failed CreateSendFile of (term,
// index) left in dir.
func RemoveUnfinishedSendFile(fsys disk.FS, dir string, term, index uint64) error {
	name := path.Join(dir, snapName{term, index}.sendName()+tmpSuffix)
	if err := fsys.Remove(name); err != nil && !errors.Is(err, disk.ErrNotExist) {
		return fmt.Errorf("wal: remove unfinished send file: %w", err)
	}
	return nil
}

// RemoveSendFiles removes the finished send files of dir (CreateSendFile)
// whose index is not in keep, and reports how many it removed. Unfinished
// ones (.send.tmp) stay: one may be a job in flight; RemoveSaveLeftovers
// clears them at boot. Removals are not synced: one a crash brings back
// goes at the next boot.
func RemoveSendFiles(fsys disk.FS, dir string, keep []uint64) (int, error) {
	all, err := fsys.List(dir)
	if err != nil {
		return 0, fmt.Errorf("wal: remove send files: %w", err)
	}
	removed := 0
	for _, n := range all {
		s, ok := parseSendName(n)
		if !ok || slices.Contains(keep, s.index) {
			continue
		}
		if err := fsys.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, disk.ErrNotExist) {
			return removed, fmt.Errorf("wal: remove send files: %w", err)
		}
		removed++
	}
	return removed, nil
}

// ReceiveSnapshot stores body, a whole snapshot file for (term, index) sent
// by a peer, as <name>.recv in dir: it checks body against the size and
// checksum the sender announced, syncs it, and renames it into place. An
// existing copy is replaced. It may run on another goroutine than the
// WAL's owner, given an FS that allows that.
func ReceiveSnapshot(fsys disk.FS, dir string, term, index uint64, size int64, crc uint32, body io.Reader) error {
	if size < int64(len(snapFileMagic))+8 {
		return fmt.Errorf("%w: received snapshot of %d bytes", ErrCorrupt, size)
	}
	name := path.Join(dir, snapName{term, index}.String()+recvSuffix)
	f, err := fsys.Create(name + tmpSuffix)
	if err != nil {
		return fmt.Errorf("wal: receive snapshot: %w", err)
	}
	h := crc32.New(castagnoli)
	buf := make([]byte, snapIOBytes)
	var got int64
	var tail [4]byte // the last 4 bytes seen: the checksum once all are in
	for got < size {
		k, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), size-got)])
		// The trailing 4 bytes are the checksum, not covered by it.
		if covered := size - 4 - got; covered > 0 {
			h.Write(buf[:min(int64(k), covered)])
		}
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return fmt.Errorf("wal: receive snapshot: %w", err)
		}
		got += int64(k)
		if k >= len(tail) {
			copy(tail[:], buf[k-len(tail):k])
		} else {
			copy(tail[:], append(tail[k:], buf[:k]...))
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("wal: receive snapshot: %d of %d bytes: %w", got, size, rerr)
		}
	}
	if sum := binary.LittleEndian.Uint32(tail[:]); sum != crc || h.Sum32() != crc {
		f.Close()
		return fmt.Errorf("%w: received snapshot %s: checksum mismatch", ErrCorrupt, name)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wal: receive snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: receive snapshot: %w", err)
	}
	if err := fsys.Rename(name+tmpSuffix, name); err != nil {
		return fmt.Errorf("wal: receive snapshot: %w", err)
	}
	return nil
}

// HasSnapshot reports whether dir holds the snapshot of (term, index), of
// size bytes, in place or received.
func HasSnapshot(fsys disk.FS, dir string, term, index uint64, size int64) bool {
	n := path.Join(dir, snapName{term, index}.String())
	for _, name := range []string{n, n + recvSuffix} {
		if f, err := fsys.Open(name); err == nil {
			got, err := f.Size()
			f.Close()
			if err == nil && got == size {
				return true
			}
		}
	}
	return false
}

// InstallReceived makes the received snapshot of (term, index) durable
// under its final name (unless that is already there), verifies it, and
// returns it.
func InstallReceived(fsys disk.FS, dir string, term, index uint64) (*SnapFile, error) {
	n := snapName{term, index}
	final := path.Join(dir, n.String())
	if snap, err := readSnapshot(fsys, final, n); err == nil {
		return snap, nil
	}
	if err := fsys.Rename(final+recvSuffix, final); err != nil {
		return nil, fmt.Errorf("wal: install received snapshot: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("wal: install received snapshot: %w", err)
	}
	return readSnapshot(fsys, final, n)
}

// RemoveSaveLeftovers removes the unfinished snapshot saves of dir
// (.snap.tmp) that a crash left, and every file made to send (.send and
// .send.tmp: the process that sent them is gone). Call it only while no
// save runs (at boot).
func RemoveSaveLeftovers(fsys disk.FS, dir string) error {
	all, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("wal: remove unfinished snapshots: %w", err)
	}
	for _, n := range all {
		base, _ := strings.CutSuffix(n, tmpSuffix)
		if !strings.HasSuffix(n, snapSuffix+tmpSuffix) && !strings.HasSuffix(base, sendSuffix) {
			continue
		}
		if err := fsys.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, disk.ErrNotExist) {
			return fmt.Errorf("wal: remove unfinished snapshots: %w", err)
		}
	}
	return nil
}

// PurgeSnapshots removes all but the newest keep snapshot files of dir, and
// received files no newer than the newest snapshot. It leaves every
// unfinished save (.snap.tmp): one may be a snapshot job in flight on
// another goroutine, and it may even be older than a snapshot received
// from the leader meanwhile; RemoveSaveLeftovers clears them at boot.
// Removals are not synced: a crash may bring back a purged file, which is
// harmless.
func PurgeSnapshots(fsys disk.FS, dir string, keep int) error {
	all, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("wal: purge snapshots: %w", err)
	}
	snaps, err := listSnapshots(fsys, dir)
	if err != nil {
		return err
	}
	var newest uint64
	if len(snaps) > 0 {
		newest = snaps[len(snaps)-1].index
	}
	var remove []string
	for _, n := range all {
		if strings.HasSuffix(n, snapSuffix+tmpSuffix) {
			continue
		}
		base, _ := strings.CutSuffix(n, tmpSuffix)
		base, recv := strings.CutSuffix(base, recvSuffix)
		if s, isSnap := parseSnapName(base); recv && isSnap && s.index <= newest {
			remove = append(remove, n)
		}
	}
	for _, s := range snaps[:max(0, len(snaps)-keep)] {
		remove = append(remove, s.String())
	}
	for _, n := range remove {
		if err := fsys.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, disk.ErrNotExist) {
			return fmt.Errorf("wal: purge snapshots: %w", err)
		}
	}
	return nil
}

// listSnapshots returns dir's snapshot names, oldest (index, then term)
// first; none when dir does not exist.
func listSnapshots(fsys disk.FS, dir string) ([]snapName, error) {
	all, err := fsys.List(dir)
	if errors.Is(err, disk.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: list snapshots: %w", err)
	}
	var names []snapName
	for _, n := range all {
		if s, ok := parseSnapName(n); ok {
			names = append(names, s)
		}
	}
	slices.SortFunc(names, func(a, b snapName) int {
		return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.term, b.term))
	})
	return names, nil
}

// readSnapshot reads one snapshot file's header and verifies its checksum
// by reading it through in pieces; damage, including metadata that
// disagrees with the name, wraps ErrCorrupt.
func readSnapshot(fsys disk.FS, name string, want snapName) (*SnapFile, error) {
	snap, err := readSnapshotHeader(fsys, name, want)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("wal: load snapshot: %w", err)
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, snap.Size-4)); err != nil {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	if h.Sum32() != snap.CRC {
		return nil, fmt.Errorf("%w: snapshot %s: checksum mismatch", ErrCorrupt, name)
	}
	return snap, nil
}

// readSnapshotHeader reads a snapshot file's metadata, size and stored
// checksum, without verifying the checksum.
func readSnapshotHeader(fsys disk.FS, name string, want snapName) (*SnapFile, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("wal: load snapshot: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	hdr := len(snapFileMagic) + 4
	if size < int64(hdr)+4 {
		return nil, fmt.Errorf("%w: snapshot %s: %d bytes", ErrCorrupt, name, size)
	}
	head := make([]byte, hdr)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	if string(head[:len(snapFileMagic)]) != string(snapFileMagic) {
		return nil, fmt.Errorf("%w: snapshot %s: bad magic", ErrCorrupt, name)
	}
	metaLen := int64(binary.LittleEndian.Uint32(head[len(snapFileMagic):]))
	if int64(hdr)+metaLen+4 > size {
		return nil, fmt.Errorf("%w: snapshot %s: metadata overruns the file", ErrCorrupt, name)
	}
	buf := make([]byte, metaLen+4)
	if _, err := f.ReadAt(buf[:metaLen], int64(hdr)); err != nil {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	if _, err := f.ReadAt(buf[metaLen:], size-4); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	md := &raftpb.SnapshotMetadata{}
	if err := proto.Unmarshal(buf[:metaLen], md); err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %v", ErrCorrupt, name, err)
	}
	if md.GetIndex() != want.index || md.GetTerm() != want.term {
		return nil, fmt.Errorf("%w: snapshot %s holds term %d index %d", ErrCorrupt, name, md.GetTerm(), md.GetIndex())
	}
	return &SnapFile{Meta: md, Path: name, Size: size, CRC: binary.LittleEndian.Uint32(buf[metaLen:]),
		payloadOff: int64(hdr) + metaLen}, nil
}
