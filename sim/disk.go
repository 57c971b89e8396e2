package sim

// Fault model of the disk (what Disk injects, and why the replica must
// survive it):
//
//   - fsync latency: every Sync and SyncDir charges a drawn latency to the
//     node's Host (a base of a fraction of a millisecond, with slow spikes of
//     tens to hundreds of ms); the node does nothing else meanwhile;
//   - deferred durability: a Sync or SyncDir only records a pending sync;
//     the inner Mem's durable state advances when the driver completes it
//     (CompleteSyncsUntil) once its fsync returned: at the end of the
//     node's busy window, or when its append stage's job syncs. A crash
//     before that loses what those syncs covered, as a crash inside fsync
//     would;
//   - crash: Crash returns a new Disk over a CrashClone of the inner Mem,
//     which keeps, loses or tears each unsynced write (disk_crash.go);
//   - fsync errors (fatal: the replica must fail-stop, never retry), disk
//     full (Write fails with disk.ErrNoSpace), and the SkipSync canary
//     (disk_faults.go).
//
// NB: completing a file's pending sync makes durable exactly the bytes the
// file had when Sync was called, even if the replica appended more in the
// same busy window (completeFile) — up to the size it had then: a WriteAt
// below that size since the Sync becomes durable with it. That too can only
// make a crash less lossy. Directory syncs are not that exact:
// completing one makes durable the directory's entries as they are at
// completion. That can only make a crash less lossy, never produce a state
// the replica could not have reached.

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"

	"metastore/core/disk"
)

// ErrCrashed is returned by every operation on a Disk (or its Files) after
// the Disk was crashed: the process that held it is gone.
var ErrCrashed = errors.New("sim: disk crashed")

// DiskStats counts what a Disk did; they carry over to the Disk that Crash
// returns, so the last Disk of a node holds the node's totals.
type DiskStats struct {
	Syncs        uint64 // Sync and SyncDir calls that were charged latency
	SlowSyncs    uint64 // ...of which hit a latency spike
	SkippedSyncs uint64 // file Syncs ignored by SkipSync
	SyncErrors   uint64 // Syncs and SyncDirs that failed
	FullErrors   uint64 // Writes refused by a full disk
	Completed    uint64 // pending syncs made durable
	Crashes      uint64
	LossyCrashes uint64 // crashes that lost or tore some unsynced state
	TornCrashes  uint64 // crashes that kept part of an unsynced tail
}

func (s DiskStats) String() string {
	return fmt.Sprintf("syncs=%d slow=%d skipped=%d sync_errors=%d full_errors=%d completed=%d crashes=%d lossy=%d torn=%d",
		s.Syncs, s.SlowSyncs, s.SkippedSyncs, s.SyncErrors, s.FullErrors, s.Completed, s.Crashes, s.LossyCrashes, s.TornCrashes)
}

// Disk is one node's simulated disk: a disk.FS over a *disk.Mem with the
// faults above. Not safe for concurrent use.
type Disk struct {
	// SkipSync makes file Syncs succeed without recording anything (bug
	// canary C3, disk half): synced data stays undurable.
	SkipSync bool
	// Stats are the counters so far.
	Stats DiskStats

	mem     *disk.Mem
	host    *Host
	rng     *rand.Rand
	faults  Faults
	full    bool
	pending []pendingSync
	dead    bool
}

var _ disk.DirectFS = (*Disk)(nil)

// pendingSync is a Sync (file != nil) or SyncDir (dir) not yet completed.
type pendingSync struct {
	at   int64 // virtual time the fsync returned (Host cursor after latency)
	file *file
	size int64 // the file's size when Sync was called
	dir  string
}

// NewDisk wraps mem for the node on host. The Disk owns rng (give it its
// own stream, e.g. Split(root)) and draws latencies and errors from it.
func NewDisk(mem *disk.Mem, host *Host, rng *rand.Rand, f Faults) *Disk {
	return &Disk{mem: mem, host: host, rng: rng, faults: f}
}

// Unwrap returns the inner Mem (its current, not only durable, state).
func (d *Disk) Unwrap() *disk.Mem { return d.mem }

// Pending returns how many syncs wait for CompleteSyncs.
func (d *Disk) Pending() int { return len(d.pending) }

// CompleteSyncs makes every pending sync durable, in the order they were
// issued. The driver calls it when the node's busy window ends.
func (d *Disk) CompleteSyncs() { d.CompleteSyncsUntil(1<<63 - 1) }

// CompleteSyncsUntil makes durable the pending syncs that returned at or
// before virtual time t, in issue order, and keeps the later ones pending.
// A driver crashing a node at t calls it before Crash, so that fsyncs
// finished before the crash survive it.
//
// NB: syncs issued on different timelines (a node's step and its append
// stage) may return out of issue order; one still pending does not hold
// back a later-issued one that returned, except on the same file, whose
// syncs complete in issue order (a file is durable up to a growing size).
func (d *Disk) CompleteSyncsUntil(t int64) {
	if d.dead {
		return
	}
	kept := d.pending[:0]
	var held []*file // files with a sync still pending
	for _, p := range d.pending {
		if p.at > t || (p.file != nil && slices.Contains(held, p.file)) {
			if p.file != nil {
				held = append(held, p.file)
			}
			kept = append(kept, p)
			continue
		}
		var err error
		if p.file != nil {
			err = p.file.complete(p.size)
		} else {
			err = d.mem.SyncDir(p.dir)
		}
		if err != nil {
			// The replica's call succeeded at the time; Mem refusing now is
			// a bug in this wrapper, not a fault to inject.
			panic(fmt.Sprintf("sim: completing sync: %v", err))
		}
		d.Stats.Completed++
	}
	clear(d.pending[len(kept):])
	d.pending = kept
}

func (d *Disk) check() error {
	if d.dead {
		return ErrCrashed
	}
	return nil
}

// Create implements disk.FS.
func (d *Disk) Create(name string) (disk.File, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	f, err := d.mem.Create(name)
	if err != nil {
		return nil, err
	}
	// NB: keep a read-write handle on the new inode so completeFile can
	// re-append bytes written after a Sync; the wrapper stays write-only.
	_ = f.Close()
	inner, err := d.mem.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &file{d: d, inner: inner, writable: true, name: name}, nil
}

// CreateDirect implements disk.DirectFS: a file like Create's whose
// writes must follow disk.DirectAlign. One that does not is a bug of the
// replica, not a fault to survive (Linux would refuse it, and the replica
// would fail-stop on every snapshot): it panics, so that a run shows it.
// Durability and crashes are any file's: a direct write is not durable
// before Sync either.
func (d *Disk) CreateDirect(name string) (disk.File, error) {
	f, err := d.Create(name)
	if err != nil {
		return nil, err
	}
	f.(*file).direct = true
	return f, nil
}

// OpenAppend implements disk.FS.
func (d *Disk) OpenAppend(name string) (disk.File, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	f, err := d.mem.OpenAppend(name)
	return d.wrap(f, err, name, true)
}

// Open implements disk.FS.
func (d *Disk) Open(name string) (disk.File, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	f, err := d.mem.Open(name)
	return d.wrap(f, err, name, false)
}

func (d *Disk) wrap(f disk.File, err error, name string, writable bool) (disk.File, error) {
	if err != nil {
		return nil, err
	}
	return &file{d: d, inner: f, name: name, readable: true, writable: writable}, nil
}

// Rename implements disk.FS.
func (d *Disk) Rename(oldname, newname string) error {
	if err := d.check(); err != nil {
		return err
	}
	return d.mem.Rename(oldname, newname)
}

// Remove implements disk.FS.
func (d *Disk) Remove(name string) error {
	if err := d.check(); err != nil {
		return err
	}
	return d.mem.Remove(name)
}

// List implements disk.FS.
func (d *Disk) List(dir string) ([]string, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return d.mem.List(dir)
}

// MkdirAll implements disk.FS.
func (d *Disk) MkdirAll(dir string) error {
	if err := d.check(); err != nil {
		return err
	}
	return d.mem.MkdirAll(dir)
}

// SyncDir implements disk.FS: it charges fsync latency and records a
// pending sync of dir's entries, or fails (fatally) like Sync.
func (d *Disk) SyncDir(dir string) error {
	if err := d.check(); err != nil {
		return err
	}
	if _, err := d.mem.List(dir); err != nil {
		return err
	}
	if err := d.fsync("syncdir " + dir); err != nil {
		return err
	}
	d.pending = append(d.pending, pendingSync{at: d.host.Cursor(), dir: dir})
	return nil
}

// file wraps a Mem file with the Disk's faults.
type file struct {
	d                  *Disk
	inner              disk.File
	name               string // as opened, for errors
	readable, writable bool   // the mode the replica asked for
	closed             bool   // closed by the replica
	direct             bool   // made by CreateDirect: writes are aligned
	pending            int    // pending syncs on inner; its Close waits for them
}

// errBadMode mirrors EBADF: reading a write-only file.
var errBadMode = errors.New("bad file descriptor")

var _ disk.File = (*file)(nil)

func (f *file) check() error {
	if err := f.d.check(); err != nil {
		return err
	}
	if f.closed {
		return fs.ErrClosed
	}
	return nil
}

// Write implements disk.File; it fails with disk.ErrNoSpace (wrapped),
// writing nothing, while the disk is full.
func (f *file) Write(p []byte) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.d.full {
		f.d.Stats.FullErrors++
		return 0, fmt.Errorf("sim: write: %w", disk.ErrNoSpace)
	}
	if f.direct {
		size, err := f.inner.Size()
		if err != nil {
			return 0, err
		}
		f.checkDirect(p, size)
	}
	return f.inner.Write(p)
}

func (f *file) checkDirect(p []byte, off int64) {
	if err := disk.CheckDirect(p, off); err != nil {
		panic(fmt.Sprintf("sim: %s: %d bytes at %d: %v", f.name, len(p), off, err))
	}
}

// WriteAt implements disk.File; it fails like Write while the disk is
// full (even over bytes the file already has: the model has no block
// allocation to tell the cases apart).
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.d.full {
		f.d.Stats.FullErrors++
		return 0, fmt.Errorf("sim: write: %w", disk.ErrNoSpace)
	}
	if f.direct {
		f.checkDirect(p, off)
	}
	return f.inner.WriteAt(p, off)
}

// ReadAt implements disk.File.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if !f.readable {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errBadMode}
	}
	return f.inner.ReadAt(p, off)
}

// Size implements disk.File.
func (f *file) Size() (int64, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

// Truncate implements disk.File.
func (f *file) Truncate(size int64) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

// Sync implements disk.File: it charges fsync latency and records a pending
// sync (nothing under SkipSync), or fails. A failed Sync is fatal: the
// replica must stop, and the driver restarts it from a crash.
func (f *file) Sync() error {
	if err := f.check(); err != nil {
		return err
	}
	if f.d.SkipSync {
		f.d.Stats.SkippedSyncs++
		return nil
	}
	if err := f.d.fsync("sync"); err != nil {
		return err
	}
	size, err := f.inner.Size()
	if err != nil {
		return err
	}
	f.pending++
	f.d.pending = append(f.d.pending, pendingSync{at: f.d.host.Cursor(), file: f, size: size})
	return nil
}

// complete makes the file durable as it was when a Sync saw it at size
// bytes: bytes appended since are cut, the rest synced, and the cut bytes
// appended again (unsynced). A file shrunk since, or opened read-only, is
// synced as it is now.
func (f *file) complete(size int64) error {
	defer func() {
		f.pending--
		if f.pending == 0 && f.closed {
			_ = f.inner.Close()
		}
	}()
	cur, err := f.inner.Size()
	if err != nil {
		return err
	}
	if cur <= size || !f.writable {
		return f.inner.Sync()
	}
	tail := make([]byte, cur-size)
	if _, err := f.inner.ReadAt(tail, size); err != nil {
		return err
	}
	if err := f.inner.Truncate(size); err != nil {
		return err
	}
	if err := f.inner.Sync(); err != nil {
		return err
	}
	_, err = f.inner.Write(tail)
	return err
}

// Close implements disk.File. The inner file stays open until its pending
// syncs complete (or the disk crashes).
func (f *file) Close() error {
	if err := f.check(); err != nil {
		return err
	}
	f.closed = true
	if f.pending == 0 {
		return f.inner.Close()
	}
	return nil
}
