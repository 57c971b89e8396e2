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
			data:       slices.Clone(n.data),
			syncedLen:  n.syncedLen,
			diverged:   n.diverged,
			syncedCopy: slices.Clone(n.syncedCopy),
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
//   - a file whose durable bytes are a prefix of its current bytes keeps,
//     with probability keepUnsynced, part of its unsynced tail: all of it
//     half the time, otherwise a prefix of uniform random length (a torn
//     write);
//   - a file truncated below its durable length since its last Sync keeps
//     its current bytes with probability keepUnsynced, else its durable ones.
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
func crashBytes(rng *rand.Rand, n *inode, keep float64) []byte {
	if n.diverged {
		if chance(rng, keep) {
			return n.data
		}
		return n.syncedCopy
	}
	tail := len(n.data) - n.syncedLen
	if tail == 0 || !chance(rng, keep) {
		return n.durable()
	}
	kept := tail
	if keep < 1 && rng.IntN(2) == 0 {
		kept = rng.IntN(tail)
	}
	return n.data[:n.syncedLen+kept]
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
