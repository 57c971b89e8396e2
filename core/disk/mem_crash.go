package disk

import (
	"math/rand/v2"
	"slices"
)

// Clone returns an exact, independent copy of m: current and durable state
// alike, so a CrashClone of the copy behaves as one of m would. Use it for a
// clean process restart. Files open on m keep working on m only.
func (m *Mem) Clone() *Mem {
	c := &Mem{dirs: make(map[string]*memDir, len(m.dirs))}
	// NB: one new inode per old inode, so a file that is both the durable
	// entry of one name and the current entry of another (an unsynced
	// rename) stays one file in the copy.
	inodes := map[*inode]*inode{}
	copyOf := func(n *inode) *inode {
		if cn, ok := inodes[n]; ok {
			return cn
		}
		cn := &inode{
			data:      slices.Clone(n.data),
			syncedLen: n.syncedLen,
			undo:      slices.Clone(n.undo), // NB: patch bytes are never mutated, so sharing them is safe
			ops:       slices.Clone(n.ops),  // likewise the saved bytes of ops
		}
		inodes[n] = cn
		return cn
	}
	for _, p := range m.sortedDirs() {
		d := m.dirs[p]
		cd := newMemDir()
		for _, name := range sortedKeys(d.cur) {
			cd.cur[name] = copyOf(d.cur[name])
		}
		for _, name := range sortedKeys(d.durable) {
			cd.durable[name] = copyOf(d.durable[name])
		}
		c.dirs[p] = cd
	}
	return c
}

// CrashClone returns a new Mem holding one possible state of m's disk after
// a crash; m itself is unchanged. keepUnsynced in [0, 1] is the probability
// that each piece of non-durable state survives:
//
//   - a name whose current entry differs from its durable one (created,
//     renamed, removed, replaced since its directory's last SyncDir) takes
//     its current entry with probability keepUnsynced, else its durable one;
//     each name is decided alone, so an unsynced rename may leave both names
//     or neither;
//   - a file changed since its last Sync keeps, with probability
//     keepUnsynced, part of those changes: all of them half the time,
//     otherwise the changes in the order they were made up to a uniform
//     random number of written bytes, the last write kept in part (a torn
//     write); truncates are kept whole.
//
// keepUnsynced = 0 yields exactly the synced state; 1 keeps everything.
// Decisions are drawn from rng in sorted order of directories and names,
// so the same rng state gives the same result; rng may be nil when
// keepUnsynced is 0 or 1, which draw nothing. In the clone everything is
// durable, and each surviving name is a separate file.
func (m *Mem) CrashClone(rng *rand.Rand, keepUnsynced float64) *Mem {
	c := &Mem{dirs: make(map[string]*memDir, len(m.dirs))}
	// The bytes a crash leaves in each old inode, decided once per inode.
	survived := map[*inode][]byte{}
	for _, p := range m.sortedDirs() {
		d := m.dirs[p]
		cd := newMemDir()
		names := sortedKeys(d.cur)
		for _, name := range sortedKeys(d.durable) {
			if _, ok := d.cur[name]; !ok {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			n, ok := d.cur[name]
			dn, dok := d.durable[name]
			if (ok != dok || n != dn) && !chance(rng, keepUnsynced) {
				n, ok = dn, dok
			}
			if !ok {
				continue
			}
			data, seen := survived[n]
			if !seen {
				data = crashBytes(rng, n, keepUnsynced)
				survived[n] = data
			}
			cn := &inode{data: slices.Clone(data), syncedLen: len(data)}
			cd.cur[name] = cn
			cd.durable[name] = cn
		}
		c.dirs[p] = cd
	}
	return c
}

// crashBytes decides what a crash leaves of one file's bytes. The result
// may alias n; the caller copies it.
//
// NB: unsynced changes survive in the order they were made. A real disk may
// write back the pages of unsynced overwrites in any order; this model does
// not produce a lost page followed by a kept one.
func crashBytes(rng *rand.Rand, n *inode, keep float64) []byte {
	if len(n.ops) == 0 || !chance(rng, keep) {
		return n.durable()
	}
	if keep >= 1 || rng.IntN(2) == 1 {
		return n.data
	}
	total := 0
	for _, o := range n.ops {
		total += max(o.n, 0)
	}
	if total == 0 {
		return n.data
	}
	budget := rng.IntN(total)
	buf := slices.Clone(n.durable())
	for i := range n.ops {
		o := &n.ops[i]
		if o.n < 0 {
			if o.off <= len(buf) {
				buf = buf[:o.off]
			} else {
				buf = append(buf, make([]byte, o.off-len(buf))...)
			}
			continue
		}
		p := o.written(n.data)
		if len(p) > budget {
			p = p[:budget]
		}
		if end := o.off + len(p); end > len(buf) {
			buf = append(buf, make([]byte, end-len(buf))...)
		}
		copy(buf[o.off:], p)
		if budget -= len(p); budget == 0 {
			break
		}
	}
	return buf
}

// chance reports true with probability p; p <= 0 and p >= 1 draw nothing.
func chance(rng *rand.Rand, p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return rng.Float64() < p
}

func (m *Mem) sortedDirs() []string { return sortedKeys(m.dirs) }

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
