package mvcc

import (
	"bytes"
	"unsafe"

	"github.com/google/btree"
)

// keyIndex lists every revision of one key still in the history, oldest
// first. They fall in generations, the lives of the key: each runs from a
// creating put to the tombstone that ended it, and only the last may be
// open (the key is live). The generations are kept flat, in one slice,
// with each tombstone marked (tombBit): a key written once costs one
// 16-byte array instead of a generation slice and a revision slice.
type keyIndex struct {
	// key is immutable, and a string so that the struct fits a 64-byte
	// allocation (keyBytes gives it back as a slice, aliased).
	key  string
	revs []revision // sub carries tombBit on tombstones
	// cur is the engine's stored record of the key's newest revision when
	// that is a put the store wrote with SetOwnedPair (the engine keeps these
	// very bytes and never changes them), else nil. It lets a put, a
	// compare or a read of the live version decode the record without an
	// engine lookup, at the cost of one slice header per key: the bytes
	// themselves are the engine's.
	cur []byte
}

// tombBit marks a tombstone in a keyIndex revision's sub (subs are small
// non-negative counts within one revision, so the bit is free).
const tombBit = int64(1) << 62

func (r revision) tomb() bool          { return r.sub&tombBit != 0 }
func (r revision) plain() revision     { return revision{main: r.main, sub: r.sub &^ tombBit} }
func lessKeyIndex(a, b *keyIndex) bool { return a.key < b.key }

// keyBytes returns the key as a slice aliasing the index's bytes. NB: it
// goes into responses and events (as before, without a copy per read);
// nothing may modify it.
func (ki *keyIndex) keyBytes() []byte { return unsafe.Slice(unsafe.StringData(ki.key), len(ki.key)) }

// pivot is a throwaway key index for looking key up in the tree; it
// aliases key, which must not change during the lookup.
func pivot(key []byte) *keyIndex {
	return &keyIndex{key: unsafe.String(unsafe.SliceData(key), len(key))}
}

// live reports whether the key's last generation is open.
func (ki *keyIndex) live() bool { return len(ki.revs) > 0 && !ki.revs[len(ki.revs)-1].tomb() }

// put records a new version of the key at rev (starting a generation when
// the key is not live). The caller sets cur afterwards if it owns the new
// record.
func (ki *keyIndex) put(rev revision) {
	ki.cur = nil
	ki.revs = append(ki.revs, rev)
}

// tombstone ends the current generation at rev. The key must be live.
func (ki *keyIndex) tombstone(rev revision) {
	if !ki.live() {
		panic("mvcc: tombstone of a key that is not live")
	}
	ki.revs = append(ki.revs, revision{main: rev.main, sub: rev.sub | tombBit})
	ki.cur = nil
}

// cached returns the record of rev when cur holds it (rev is the newest
// revision), else nil.
func (ki *keyIndex) cached(rev revision) []byte {
	if ki == nil || ki.cur == nil {
		return nil
	}
	if ki.revs[len(ki.revs)-1] != rev {
		return nil
	}
	return ki.cur
}

// at returns the revision of the version visible at store revision atRev,
// or false when the key did not exist then: the newest revision at or
// below atRev (within one main revision the highest sub wins), unless that
// is a tombstone.
func (ki *keyIndex) at(atRev int64) (revision, bool) {
	for i := len(ki.revs) - 1; i >= 0; i-- {
		if r := ki.revs[i]; r.main <= atRev {
			if r.tomb() {
				return revision{}, false
			}
			return r, true
		}
	}
	return revision{}, false
}

// before returns the revision preceding rev in rev's generation: the version
// an event at rev replaced. False when rev created the key.
func (ki *keyIndex) before(rev revision) (revision, bool) {
	for i := len(ki.revs) - 1; i > 0; i-- {
		if ki.revs[i].plain() == rev {
			if p := ki.revs[i-1]; !p.tomb() {
				return p, true
			}
			return revision{}, false
		}
	}
	return revision{}, false
}

// compact drops the revisions that no read at or after atRev can see: per
// generation, everything at or below atRev except the newest put, and a
// whole generation whose tombstone is at or below atRev. Dropped revisions
// are passed to drop (without tombBit). It reports whether the key has no
// revisions left.
func (ki *keyIndex) compact(atRev int64, drop func(revision)) (empty bool) {
	kept := ki.revs[:0] // in place: the write index never passes the read index
	for start := 0; start < len(ki.revs); {
		end := start + 1 // the generation is revs[start:end]
		for end <= len(ki.revs)-1 && !ki.revs[end-1].tomb() {
			end++
		}
		g := ki.revs[start:end]
		i := -1 // last index in g with main <= atRev
		for j, r := range g {
			if r.main > atRev {
				break
			}
			i = j
		}
		switch {
		case i < 0:
			kept = append(kept, g...)
		case g[i].tomb():
			for _, r := range g {
				drop(r.plain())
			}
		default:
			for _, r := range g[:i] {
				drop(r)
			}
			kept = append(kept, g[i:]...)
		}
		start = end
	}
	clear(ki.revs[len(kept):])
	ki.revs = kept
	if cap(ki.revs) > 2*len(ki.revs) {
		ki.revs = append([]revision(nil), ki.revs...) // give compacted space back
	}
	return len(ki.revs) == 0
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
	ki := &keyIndex{key: string(key)}
	x.tree.ReplaceOrInsert(ki)
	x.byKey[ki.key] = ki // the map's key shares the index's string
	return ki
}

// remove drops ki, which has no revisions left.
func (x *index) remove(ki *keyIndex) {
	x.tree.Delete(ki)
	delete(x.byKey, ki.key)
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
		x.tree.AscendGreaterOrEqual(pivot(key), fn)
	case bytes.Compare(key, end) < 0:
		x.tree.AscendRange(pivot(key), pivot(end), fn)
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
