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

var _ DirectFS = (*Mem)(nil)

// memDir is one directory: its current and durable name -> inode maps.
type memDir struct {
	cur     map[string]*inode
	durable map[string]*inode
}

func newMemDir() *memDir {
	return &memDir{cur: map[string]*inode{}, durable: map[string]*inode{}}
}

// inode is a file's bytes, current and durable, and the changes made to
// them since the last Sync, in order, so a crash can replay a prefix of
// them.
//
// The durable bytes are not kept whole: they are data[:syncedLen] with the
// undo patches applied newest first. A write or truncate that changes
// bytes below syncedLen saves the bytes it changes there, so an append-only
// file (the common case) never copies its durable bytes.
type inode struct {
	data      []byte
	syncedLen int
	undo      []memPatch // durable bytes changed since the last Sync, oldest first
	ops       []memOp    // changes since the last Sync, oldest first
}

// memPatch holds old, the bytes at off before one change.
type memPatch struct {
	off int
	old []byte
}

// memOp is one unsynced change: n bytes written at off, or, when n < 0, a
// truncate (or zero-extension) to size off.
type memOp struct {
	off, n int
	// bytes are the bytes written, saved once a later change overwrote
	// or cut them in data; nil while data[off:off+n] still holds them.
	bytes []byte
}

func (o *memOp) written(data []byte) []byte {
	if o.bytes != nil {
		return o.bytes
	}
	return data[o.off : o.off+o.n]
}

// durable returns the bytes a crash keeps for sure. The result may alias
// the inode; callers copy it.
func (n *inode) durable() []byte {
	if len(n.undo) == 0 {
		return n.data[:n.syncedLen]
	}
	buf := make([]byte, n.syncedLen)
	copy(buf, n.data)
	// NB: positions at or past len(data) hold nothing yet: the truncate
	// that cut them saved them, and its patch, applied last, restores
	// them.
	for i := len(n.undo) - 1; i >= 0; i-- {
		copy(buf[n.undo[i].off:], n.undo[i].old)
	}
	return buf
}

// changing is called before data[from:to] changes (to > len(data) means
// growth): it saves what the durable state and earlier unsynced writes
// still need of those bytes.
func (n *inode) changing(from, to int) {
	if lim := min(to, n.syncedLen, len(n.data)); from < lim {
		n.undo = append(n.undo, memPatch{off: from, old: slices.Clone(n.data[from:lim])})
	}
	if from >= len(n.data) {
		return // pure growth: no earlier write's bytes are touched
	}
	for i := range n.ops {
		o := &n.ops[i]
		if o.n > 0 && o.bytes == nil && o.off < to && from < o.off+o.n {
			o.bytes = slices.Clone(n.data[o.off : o.off+o.n])
		}
	}
}

// writeAt writes p at off, zero-filling any gap past the end.
func (n *inode) writeAt(p []byte, off int) {
	end := off + len(p)
	n.changing(off, end)
	n.ops = append(n.ops, memOp{off: off, n: len(p)})
	if d := n.data; end > cap(d) {
		// NB: double, where append grows large slices by only 1.25x: log
		// files grow by small appends, and copying dominated Save on Mem.
		grown := make([]byte, len(d), max(2*cap(d), end, 512))
		copy(grown, d)
		n.data = grown
	}
	if end > len(n.data) {
		old := len(n.data)
		n.data = n.data[:end]
		if off > old {
			clear(n.data[old:off]) // the gap: capacity may hold cut bytes
		}
	}
	copy(n.data[off:], p)
}

// truncate cuts or zero-extends the current bytes.
func (n *inode) truncate(size int) {
	if size == len(n.data) {
		return
	}
	if size < len(n.data) {
		n.changing(size, len(n.data))
	}
	n.ops = append(n.ops, memOp{off: size, n: -1})
	if size < len(n.data) {
		n.data = n.data[:size]
		return
	}
	n.data = append(n.data, make([]byte, size-len(n.data))...)
}

func (n *inode) sync() {
	n.syncedLen = len(n.data)
	// NB: keep the arrays: a log file syncs after every few writes, and
	// clones copy them, so nothing else holds them.
	clear(n.undo)
	clear(n.ops)
	n.undo, n.ops = n.undo[:0], n.ops[:0]
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

// Create implements FS. The File is write-only, like O_WRONLY.
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

// CreateDirect implements DirectFS: the file is Create's, except that it
// refuses writes that break DirectAlign, as the OS does; its crash
// behaviour is any file's (unsynced writes may be lost or torn).
func (m *Mem) CreateDirect(name string) (File, error) {
	f, err := m.Create(name)
	if err != nil {
		return nil, err
	}
	f.(*memFile).direct = true
	return f, nil
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
