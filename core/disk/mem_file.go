package disk

import (
	"io"
	"io/fs"
)

// memFile is an open handle on an inode. It keeps the inode, not the name,
// so a removed or renamed file stays usable, as on POSIX, and a clone of
// the Mem never shows through an old handle.
type memFile struct {
	m           *Mem
	n           *inode
	name        string
	read, write bool
	closed      bool
	// direct: a file made by CreateDirect, whose writes are refused
	// unless aligned, as the OS refuses them (CheckDirect).
	direct bool
}

func (f *memFile) check(op string, needRead, needWrite bool) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, fs.ErrClosed)
	case needRead && !f.read, needWrite && !f.write:
		return pathErr(op, f.name, errBadMode)
	}
	return nil
}

// Write implements File.
func (f *memFile) Write(p []byte) (int, error) {
	if err := f.check("write", false, true); err != nil {
		return 0, err
	}
	if err := f.checkDirect(p, int64(len(f.n.data))); err != nil {
		return 0, err
	}
	return f.writeAt(p, len(f.n.data)), nil
}

// WriteAt implements File.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", false, true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, errInvalid)
	}
	if err := f.checkDirect(p, off); err != nil {
		return 0, err
	}
	return f.writeAt(p, int(off)), nil
}

func (f *memFile) checkDirect(p []byte, off int64) error {
	if !f.direct {
		return nil
	}
	if err := CheckDirect(p, off); err != nil {
		return pathErr("write", f.name, err)
	}
	return nil
}

func (f *memFile) writeAt(p []byte, off int) int {
	f.n.writeAt(p, off)
	f.m.bytesWritten += int64(len(p))
	f.m.writeCount++
	return len(p)
}

// ReadAt implements File.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", true, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, errInvalid)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size implements File.
func (f *memFile) Size() (int64, error) {
	if err := f.check("stat", false, false); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

// Truncate implements File.
func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", false, true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, errInvalid)
	}
	f.n.truncate(int(size))
	return nil
}

// Sync implements File.
func (f *memFile) Sync() error {
	if err := f.check("sync", false, false); err != nil {
		return err
	}
	f.m.syncCount++
	f.n.sync()
	return nil
}

// Close implements File.
func (f *memFile) Close() error {
	if err := f.check("close", false, false); err != nil {
		return err
	}
	f.closed = true
	return nil
}
