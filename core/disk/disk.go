// Package disk defines the small file system the replica persists through,
// and Mem, a strict in-memory twin that forgets unsynced writes on a crash.
//
// The replica (WAL, snapshot files) only ever talks to FS. Production passes
// the OS file system (core/realworld); the simulator wraps Mem with latency,
// deferred syncs, torn writes and errors (sim/).
package disk

import (
	"errors"
	"io/fs"
)

// ErrNotExist is returned (wrapped) when a named file does not exist.
// It is io/fs.ErrNotExist so errors.Is works for both the OS and Mem.
var ErrNotExist = fs.ErrNotExist

// ErrNoSpace is returned (wrapped) by Write when the disk is full.
var ErrNoSpace = errors.New("disk: no space left on device")

// FS is a flat-ish file system: names are slash-separated paths, and
// directories must be created with MkdirAll before files are created in them.
//
// Durability contract: data written to a File is durable only after File.Sync
// returns nil; a created, renamed or removed name is durable only after
// SyncDir of its parent directory returns nil. A crash may keep or lose any
// write that was not made durable, and may tear the last unsynced write.
// (Mem keeps unsynced writes in the order they were made: see CrashClone.)
type FS interface {
	// Create creates (or truncates) name and opens it for writing.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for reading and writing.
	OpenAppend(name string) (File, error)
	// Open opens an existing file for reading only.
	Open(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove deletes a file.
	Remove(name string) error
	// List returns the base names of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and its parents; existing directories are fine.
	MkdirAll(dir string) error
	// SyncDir makes the entries of dir (creations, renames, removals) durable.
	SyncDir(dir string) error
}

// File is an open file. At most one goroutine uses a File at a time.
type File interface {
	// Write appends p at the end of the file.
	Write(p []byte) (int, error)
	// WriteAt writes p at off, overwriting what is there and extending
	// the file as needed; a gap between the old end and off reads as
	// zeros. Its durability is Write's.
	WriteAt(p []byte, off int64) (int, error)
	// ReadAt reads len(p) bytes at off; io.EOF when it reaches the end.
	ReadAt(p []byte, off int64) (int, error)
	// Size returns the current size in bytes, synced or not.
	Size() (int64, error)
	// Truncate cuts the file to size bytes (used to drop a torn WAL tail).
	Truncate(size int64) error
	// Sync makes every write so far durable. An error is fatal to the
	// replica (fail-stop): the caller must never retry and carry on.
	Sync() error
	Close() error
}
