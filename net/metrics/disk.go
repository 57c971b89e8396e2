package metrics

import (
	"time"

	"metastore/core/disk"
)

// SyncTimer is a disk.FS that times every File.Sync: each duration goes
// to FsyncDuration. Every other call passes through unchanged. Safe for
// concurrent use as far as the wrapped FS is.
type SyncTimer struct {
	fs disk.FS
	m  *Metrics
}

var _ disk.DirectFS = (*SyncTimer)(nil)

// NewSyncTimer wraps fs; its syncs are observed in m.FsyncDuration.
func (m *Metrics) NewSyncTimer(fs disk.FS) *SyncTimer { return &SyncTimer{fs: fs, m: m} }

// Unwrap returns the wrapped FS.
func (t *SyncTimer) Unwrap() disk.FS { return t.fs }

func (t *SyncTimer) wrap(f disk.File, err error) (disk.File, error) {
	if err != nil {
		return nil, err
	}
	return timedFile{File: f, t: t}, nil
}

// Create implements disk.FS.
func (t *SyncTimer) Create(name string) (disk.File, error) { return t.wrap(t.fs.Create(name)) }

// CreateDirect implements disk.DirectFS: a direct file where the wrapped
// FS makes them, else an ordinary one.
func (t *SyncTimer) CreateDirect(name string) (disk.File, error) {
	return t.wrap(disk.CreateDirect(t.fs, name))
}

// OpenAppend implements disk.FS.
func (t *SyncTimer) OpenAppend(name string) (disk.File, error) { return t.wrap(t.fs.OpenAppend(name)) }

// Open implements disk.FS.
func (t *SyncTimer) Open(name string) (disk.File, error) { return t.wrap(t.fs.Open(name)) }

// Rename implements disk.FS.
func (t *SyncTimer) Rename(oldname, newname string) error { return t.fs.Rename(oldname, newname) }

// Remove implements disk.FS.
func (t *SyncTimer) Remove(name string) error { return t.fs.Remove(name) }

// List implements disk.FS.
func (t *SyncTimer) List(dir string) ([]string, error) { return t.fs.List(dir) }

// MkdirAll implements disk.FS.
func (t *SyncTimer) MkdirAll(dir string) error { return t.fs.MkdirAll(dir) }

// SyncDir implements disk.FS. NB: not timed: the metric is the data sync
// every write waits for, as etcd's wal_fsync_duration is.
func (t *SyncTimer) SyncDir(dir string) error { return t.fs.SyncDir(dir) }

type timedFile struct {
	disk.File
	t *SyncTimer
}

// Sync times the wrapped Sync, failed ones included: a slow failing disk
// is still a slow disk.
func (f timedFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	d := time.Since(start)
	ObserveDuration(f.t.m.FsyncDuration, d)
	return err
}

// ApplyObserver returns the hook for server.NodeConfig.ObserveApply: it
// records each apply job's time in ApplyDuration. NB: WAL syncs run on the
// append stage's own goroutine, so none is inside an apply job; the disk's
// time shows in storage_fsync_duration_ms alone.
func (m *Metrics) ApplyObserver() func(time.Duration) {
	return func(d time.Duration) { ObserveDuration(m.ApplyDuration, d) }
}
