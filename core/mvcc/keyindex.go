package mvcc

import (
	"bytes"
	"unsafe"

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
	// cur is the engine's stored record of the key's newest revision when
	// that is a put the store wrote with SetOwnedPair (the engine keeps these
	// very bytes and never changes them), else nil. It lets a put, a
	// compare or a read of the live version decode the record without an
	// engine lookup, at the cost of one slice header per key: the bytes
	// themselves are the engine's.
	cur []byte
}

func lessKeyIndex(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }

// put records a new version of the key at rev.
// The caller sets cur afterwards if it owns the new record.
func (ki *keyIndex) put(rev revision) {
	ki.cur = nil
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
	ki.cur = nil
}

// cached returns the record of rev when cur holds it (rev is the newest
// revision), else nil.
func (ki *keyIndex) cached(rev revision) []byte {
	if ki == nil || ki.cur == nil {
		return nil
	}
	revs := ki.gens[len(ki.gens)-1].revs
	if revs[len(revs)-1] != rev {
		return nil
	}
	return ki.cur
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

// index is the in-memory tree of key indexes, ordered by key, with a hash
// map beside it for point lookups: every put and single-key read looks its
// key up, and the map answers that in one hash instead of a dozen key
// comparisons down the tree. The two always hold the same key indexes. The
// map costs about 40-55 bytes per indexed key (its slot; the key string
// shares the key index's bytes), and is never iterated, so its order reaches no output.
type index struct {
	tree  *btree.BTreeG[*keyIndex]
	byKey map[string]*keyIndex
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, lessKeyIndex), byKey: make(map[string]*keyIndex)}
}

// get returns the index of key, or nil.
func (x *index) get(key []byte) *keyIndex {
	return x.byKey[string(key)]
}

// getOrCreate returns the index of key, adding an empty one (with a private
// copy of key) when missing.
func (x *index) getOrCreate(key []byte) *keyIndex {
	if ki := x.byKey[string(key)]; ki != nil {
		return ki
	}
	ki := &keyIndex{key: append([]byte(nil), key...)}
	x.tree.ReplaceOrInsert(ki)
	// NB: the map's key shares ki.key's bytes instead of copying them (16
	// or more bytes and an allocation per key); ki.key is never modified.
	x.byKey[unsafe.String(unsafe.SliceData(ki.key), len(ki.key))] = ki
	return ki
}

// remove drops ki, which has no revisions left.
func (x *index) remove(ki *keyIndex) {
	x.tree.Delete(ki)
	delete(x.byKey, string(ki.key))
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
