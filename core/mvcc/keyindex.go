package mvcc

import (
	"bytes"

	"github.com/google/btree"
)

// generation is one life of a key: the revisions from its creation up to
// and including the tombstone that ended it (closed), oldest first.
type generation struct {
	revs   []revision
	closed bool // revs[len-1] is a tombstone
}

// keyIndex lists every revision of one key still in the history, grouped in
// generations, oldest first. Only the last generation may be open.
type keyIndex struct {
	key  []byte
	gens []generation
}

func lessKeyIndex(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }

// put records a new version of the key at rev.
func (ki *keyIndex) put(rev revision) {
	if n := len(ki.gens); n == 0 || ki.gens[n-1].closed {
		ki.gens = append(ki.gens, generation{})
	}
	g := &ki.gens[len(ki.gens)-1]
	g.revs = append(g.revs, rev)
}

// tombstone ends the current generation at rev. The key must be live.
func (ki *keyIndex) tombstone(rev revision) {
	n := len(ki.gens)
	if n == 0 || ki.gens[n-1].closed {
		panic("mvcc: tombstone of a key that is not live")
	}
	g := &ki.gens[n-1]
	g.revs = append(g.revs, rev)
	g.closed = true
}

// at returns the revision of the version visible at store revision atRev,
// or false when the key did not exist then. Every revision in the index
// has been written, so within one main revision the highest sub wins.
func (ki *keyIndex) at(atRev int64) (revision, bool) {
	for gi := len(ki.gens) - 1; gi >= 0; gi-- {
		g := &ki.gens[gi]
		if len(g.revs) == 0 || g.revs[0].main > atRev {
			continue
		}
		i := len(g.revs) - 1
		for g.revs[i].main > atRev {
			i--
		}
		if g.closed && i == len(g.revs)-1 {
			return revision{}, false
		}
		return g.revs[i], true
	}
	return revision{}, false
}

// before returns the revision preceding rev in rev's generation: the version
// an event at rev replaced. False when rev created the key.
func (ki *keyIndex) before(rev revision) (revision, bool) {
	for gi := len(ki.gens) - 1; gi >= 0; gi-- {
		revs := ki.gens[gi].revs
		if len(revs) == 0 || rev.less(revs[0]) {
			continue
		}
		for i := len(revs) - 1; i > 0; i-- {
			if revs[i] == rev {
				return revs[i-1], true
			}
		}
		return revision{}, false
	}
	return revision{}, false
}

// compact drops the revisions that no read at or after atRev can see: per
// generation, everything at or below atRev except the newest put. Dropped
// revisions are passed to drop. It reports whether the key has no
// revisions left.
func (ki *keyIndex) compact(atRev int64, drop func(revision)) (empty bool) {
	kept := ki.gens[:0]
	for _, g := range ki.gens {
		i := -1 // last index with main <= atRev
		for j, r := range g.revs {
			if r.main > atRev {
				break
			}
			i = j
		}
		switch {
		case i < 0:
			kept = append(kept, g)
		case g.closed && i == len(g.revs)-1:
			for _, r := range g.revs {
				drop(r)
			}
		default:
			for _, r := range g.revs[:i] {
				drop(r)
			}
			g.revs = append([]revision(nil), g.revs[i:]...)
			kept = append(kept, g)
		}
	}
	clear(ki.gens[len(kept):])
	ki.gens = kept
	return len(kept) == 0
}

// index is the in-memory tree of key indexes, ordered by key.
type index struct {
	tree  *btree.BTreeG[*keyIndex]
	probe keyIndex // reused search item for single-key lookups
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, lessKeyIndex)}
}

// get returns the index of key, or nil.
func (x *index) get(key []byte) *keyIndex {
	x.probe.key = key
	ki, _ := x.tree.Get(&x.probe)
	x.probe.key = nil
	return ki
}

// getOrCreate returns the index of key, adding an empty one (with a private
// copy of key) when missing.
func (x *index) getOrCreate(key []byte) *keyIndex {
	if ki := x.get(key); ki != nil {
		return ki
	}
	ki := &keyIndex{key: append([]byte(nil), key...)}
	x.tree.ReplaceOrInsert(ki)
	return ki
}

// visit calls fn for each key index in the span of (key, end) in key order
// until fn returns false. end follows etcd: nil for the single key,
// "\x00" for every key >= key, otherwise the half-open [key, end), empty
// when end <= key.
func (x *index) visit(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		if ki := x.get(key); ki != nil {
			fn(ki)
		}
	case len(end) == 1 && end[0] == 0:
		x.tree.AscendGreaterOrEqual(&keyIndex{key: key}, fn)
	case bytes.Compare(key, end) < 0:
		x.tree.AscendRange(&keyIndex{key: key}, &keyIndex{key: end}, fn)
	}
}

// inSpan reports whether k falls in the span (key, end) as visit reads it.
func inSpan(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}
