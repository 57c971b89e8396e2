package realworld

import (
	"io"
	"os"
	"slices"

	"metastore/core/disk"
)

// OSDisk is disk.FS on the operating system's file system. Names are used
// exactly as given (absolute, or relative to the working directory). The
// zero value is ready to use.
type OSDisk struct{}

var _ disk.FS = OSDisk{}

// Create implements disk.FS: the file is write-only.
//
// NB: no O_APPEND, here or in OpenAppend: Linux's pwrite ignores the offset
// of a file opened with it, and WriteAt must write where it is told.
func (OSDisk) Create(name string) (disk.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenAppend implements disk.FS: the file reads and writes.
func (OSDisk) OpenAppend(name string) (disk.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Open implements disk.FS.
func (OSDisk) Open(name string) (disk.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Rename implements disk.FS.
func (OSDisk) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove implements disk.FS.
func (OSDisk) Remove(name string) error { return os.Remove(name) }

// List implements disk.FS.
func (OSDisk) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names) // ReadDir sorts too; the contract should not rest on it
	return names, nil
}

// MkdirAll implements disk.FS.
func (OSDisk) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

// SyncDir implements disk.FS by fsyncing the directory itself, which is
// what makes creations, renames and removals in it durable on Linux.
func (OSDisk) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// osFile adds Size and an appending Write to *os.File, which has the rest
// of disk.File.
type osFile struct {
	*os.File
}

// Write implements disk.File: it moves to the end first, since without
// O_APPEND the offset stays wherever a Truncate left the end.
func (f osFile) Write(p []byte) (int, error) {
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

// Size implements disk.File.
func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
