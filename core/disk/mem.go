package disk

import (
	"errors"
	"io/fs"
	"path"
	"slices"
)

// Mem is a strict, deterministic in-memory FS. It remembers, for every file,
// its current bytes and the bytes made durable by its last File.Sync, and for
// every directory, its current names and the names made durable by its last
// SyncDir. CrashClone derives one possible post-crash state from that.
//
// Fault model: Mem itself never fails an operation that a healthy disk would
// serve; latency, I/O errors and full disks are wrappers' business (sim/).
// What Mem models is the crash: any write or name change not yet made
// durable may be lost, and the last unsynced write of a file may be torn.
//
// Simplification: directories created by MkdirAll are durable at once (the
// replica creates its directories once, before anything else).
//
// A Mem and the Files it returns must be used by one goroutine at a time.
type Mem struct {
	dirs map[string]*memDir // by cleaned path; "." and "/" always exist

	syncCount    int64
	bytesWritten int64
	writeCount   int64
}

var _ FS = (*Mem)(nil)

// memDir is one directory: its current and durable name -> inode maps.
type memDir struct {
	cur     map[string]*inode
	durable map[string]*inode
}

func newMemDir() *memDir {
	return &memDir{cur: map[string]*inode{}, durable: map[string]*inode{}}
}

// inode is a file's bytes, current and durable. Writes only append, so
// the durable bytes are data[:syncedLen] until a Truncate cuts below
// syncedLen; from then until the next Sync they live in syncedCopy.
type inode struct {
	data       []byte
	syncedLen  int
	diverged   bool   // data no longer extends the durable bytes
	syncedCopy []byte // the durable bytes while diverged
}

// durable returns the bytes a crash keeps for sure. The result aliases the
// inode; callers copy it.
func (n *inode) durable() []byte {
	if n.diverged {
		return n.syncedCopy
	}
	return n.data[:n.syncedLen]
}

// truncate cuts or zero-extends the current bytes, saving the durable
// bytes first when the cut reaches into them.
func (n *inode) truncate(size int) {
	if size < len(n.data) {
		if !n.diverged && size < n.syncedLen {
			n.syncedCopy = slices.Clone(n.data[:n.syncedLen])
			n.diverged = true
		}
		n.data = n.data[:size]
		return
	}
	n.data = append(n.data, make([]byte, size-len(n.data))...)
}

func (n *inode) sync() {
	n.syncedLen = len(n.data)
	n.diverged = false
	n.syncedCopy = nil
}

// NewMem returns an empty Mem holding only the root directories "." and "/".
func NewMem() *Mem {
	return &Mem{dirs: map[string]*memDir{".": newMemDir(), "/": newMemDir()}}
}

// SyncCount returns how many File.Sync and SyncDir calls this Mem served
// (clones start from zero).
func (m *Mem) SyncCount() int64 { return m.syncCount }

// BytesWritten returns how many bytes File.Write accepted on this Mem's
// files (clones start from zero).
func (m *Mem) BytesWritten() int64 { return m.bytesWritten }

// WriteCount returns how many File.Write calls this Mem's files accepted
// (clones start from zero): on a real disk, each is a system call.
func (m *Mem) WriteCount() int64 { return m.writeCount }

var (
	errIsDir    = errors.New("is a directory")
	errNotDir   = errors.New("not a directory")
	errNotEmpty = errors.New("directory not empty")
	errBadMode  = errors.New("bad file descriptor")
	errInvalid  = errors.New("invalid argument")
)

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// lookup splits name into its directory and base name. It fails with
// ErrNotExist when the directory is missing.
func (m *Mem) lookup(op, name string) (*memDir, string, error) {
	clean := path.Clean(name)
	if _, ok := m.dirs[clean]; ok {
		return nil, "", pathErr(op, name, errIsDir)
	}
	d, ok := m.dirs[path.Dir(clean)]
	if !ok {
		return nil, "", pathErr(op, name, ErrNotExist)
	}
	return d, path.Base(clean), nil
}

// Create implements FS. The File is write-only, like O_WRONLY|O_APPEND.
// Creating an existing name truncates that same file, as O_TRUNC does.
func (m *Mem) Create(name string) (File, error) {
	d, base, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := d.cur[base]
	if ok {
		n.truncate(0)
	} else {
		n = &inode{}
		d.cur[base] = n
	}
	return &memFile{m: m, n: n, name: name, write: true}, nil
}

// OpenAppend implements FS.
func (m *Mem) OpenAppend(name string) (File, error) {
	n, err := m.file("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{m: m, n: n, name: name, read: true, write: true}, nil
}

// Open implements FS.
func (m *Mem) Open(name string) (File, error) {
	n, err := m.file("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{m: m, n: n, name: name, read: true}, nil
}

func (m *Mem) file(op, name string) (*inode, error) {
	d, base, err := m.lookup(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := d.cur[base]
	if !ok {
		return nil, pathErr(op, name, ErrNotExist)
	}
	return n, nil
}

// Rename implements FS.
func (m *Mem) Rename(oldname, newname string) error {
	od, obase, err := m.lookup("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := od.cur[obase]
	if !ok {
		return pathErr("rename", oldname, ErrNotExist)
	}
	nd, nbase, err := m.lookup("rename", newname)
	if err != nil {
		return err
	}
	if od == nd && obase == nbase {
		return nil
	}
	nd.cur[nbase] = n
	delete(od.cur, obase)
	return nil
}

// Remove implements FS. Like os.Remove it also removes an empty directory.
func (m *Mem) Remove(name string) error {
	clean := path.Clean(name)
	if _, ok := m.dirs[clean]; ok {
		if clean == "." || clean == "/" {
			return pathErr("remove", name, errInvalid)
		}
		if names, _ := m.List(clean); len(names) > 0 {
			return pathErr("remove", name, errNotEmpty)
		}
		delete(m.dirs, clean)
		return nil
	}
	d, base, err := m.lookup("remove", name)
	if err != nil {
		return err
	}
	if _, ok := d.cur[base]; !ok {
		return pathErr("remove", name, ErrNotExist)
	}
	delete(d.cur, base)
	return nil
}

// List implements FS: files and subdirectories, sorted.
func (m *Mem) List(dir string) ([]string, error) {
	clean := path.Clean(dir)
	d, ok := m.dirs[clean]
	if !ok {
		if _, err := m.file("open", clean); err == nil {
			return nil, pathErr("readdirent", dir, errNotDir)
		}
		return nil, pathErr("open", dir, ErrNotExist)
	}
	names := make([]string, 0, len(d.cur))
	for name := range d.cur {
		names = append(names, name)
	}
	for p := range m.dirs {
		if p != clean && path.Dir(p) == clean {
			names = append(names, path.Base(p))
		}
	}
	slices.Sort(names) // NB: map order must never leak out
	return names, nil
}

// MkdirAll implements FS.
func (m *Mem) MkdirAll(dir string) error {
	clean := path.Clean(dir)
	if _, ok := m.dirs[clean]; ok {
		return nil
	}
	parent := path.Dir(clean)
	if err := m.MkdirAll(parent); err != nil {
		return err
	}
	if _, isFile := m.dirs[parent].cur[path.Base(clean)]; isFile {
		return pathErr("mkdir", dir, errNotDir)
	}
	m.dirs[clean] = newMemDir()
	return nil
}

// SyncDir implements FS: every current name of dir becomes durable.
func (m *Mem) SyncDir(dir string) error {
	d, ok := m.dirs[path.Clean(dir)]
	if !ok {
		return pathErr("open", dir, ErrNotExist)
	}
	m.syncCount++
	clear(d.durable)
	for name, n := range d.cur {
		d.durable[name] = n
	}
	return nil
}
