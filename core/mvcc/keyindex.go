package mvcc

import (
	"bytes"
	"math"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/google/btree"
)

// keyIndex lists every revision of one key still in the history, oldest
// first. They fall in generations, the lives of the key: each runs from a
// creating put to the tombstone that ended it, and only the last may be
// open (the key is live). The generations are kept flat, in one array,
// with each tombstone marked (tombBit): a key written once costs one
// 16-byte array instead of a generation slice and a revision slice.
//
// The key itself is not stored apart: it is rec[koff:koff+klen]. When the
// key's newest revision is a put the store wrote with SetOwnedPair (the
// engine keeps those very bytes and never changes them), rec is that record
// (koff > 0: the key follows the record's header) and serves a put, a
// compare or a read of the live version without an engine lookup.
// Otherwise rec is a private copy of the key (koff == 0). rec is re-pointed
// at every put, so an old record is never kept alive by the index once the
// engine drops it.
//
// A put needs the live generation's create revision and version without
// reading the engine (on RocksDB that read was most of a put's cost). They
// come from the generation's first entry, found in O(1) through gen: the
// creating put (version = entries since it), or, once compaction has
// dropped that put, a ghost entry standing in for it (see ghostBit). Only
// keys whose live generation compaction trimmed pay the ghost's 16 bytes.
//
// A million keys make a million of these, so the struct is packed into a
// 32-byte allocation: two pointers with their lengths beside them instead
// of a string and a slice header (which took 64 bytes with a cached record
// and a key copy of their own).
type keyIndex struct {
	rec  *byte     // rec[:n]
	revp *revision // revs(), with room for revCap(nrev); sub carries tombBit or ghostBit
	n    uint32
	// meta packs koff (the record header's length, at most 51 bytes) in
	// its low 8 bits and gen, the index in revs of the newest
	// generation's first entry, in the high 24 (genUnknown: too far in,
	// found by a scan).
	meta uint32
	klen uint32
	nrev uint32
}

// tombBit marks a tombstone in a keyIndex revision's sub (subs are small
// non-negative counts within one revision, so the bit is free).
const tombBit = int64(1) << 62

// ghostBit marks a ghost: the first entry of a generation whose creating
// put compaction dropped. Its main is the generation's create revision and
// its sub (without the bit) the number of puts it stands for, the version
// of the put before the next entry. It has no record and no read sees it.
const ghostBit = int64(1) << 61

const genUnknown = 1<<24 - 1

func (r revision) tomb() bool          { return r.sub&tombBit != 0 }
func (r revision) ghost() bool         { return r.sub&ghostBit != 0 }
func (r revision) plain() revision     { return revision{main: r.main, sub: r.sub &^ tombBit} }
func lessKeyIndex(a, b *keyIndex) bool { return a.key() < b.key() }

// newKeyIndex returns an empty key index holding a private copy of key.
func newKeyIndex(key []byte) *keyIndex {
	ki := &keyIndex{}
	ki.setKeyCopy(strings.Clone(unsafe.String(unsafe.SliceData(key), len(key))))
	return ki
}

// setKeyCopy makes k, which nothing else refers to, the key's bytes.
func (ki *keyIndex) setKeyCopy(k string) {
	ki.rec, ki.n, ki.klen = unsafe.StringData(k), uint32(len(k)), uint32(len(k))
	ki.setKoff(0)
}

func (ki *keyIndex) koff() uint32        { return ki.meta & 0xff }
func (ki *keyIndex) setKoff(koff uint32) { ki.meta = ki.meta&^0xff | koff }
func (ki *keyIndex) setGen(i uint32)     { ki.meta = ki.meta&0xff | min(i, genUnknown)<<8 }

// key returns the key, aliasing rec.
func (ki *keyIndex) key() string {
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(ki.rec), ki.koff())), ki.klen)
}

// keyBytes returns the key as a slice aliasing the index's bytes. NB: it
// goes into responses and events (as before, without a copy per read);
// nothing may modify it.
func (ki *keyIndex) keyBytes() []byte {
	k := ki.key()
	return unsafe.Slice(unsafe.StringData(k), len(k))
}

// pivot is a throwaway key index for looking key up in the tree; it
// aliases key, which must not change during the lookup.
func pivot(key []byte) *keyIndex {
	return &keyIndex{rec: unsafe.SliceData(key), n: uint32(len(key)), klen: uint32(len(key))}
}

// revs returns the revisions, oldest first. Changes go through appendRev
// and compact only.
func (ki *keyIndex) revs() []revision { return unsafe.Slice(ki.revp, ki.nrev) }

// revCap is the room allocated for n revisions: the next power of two, so
// that appends double it and the capacity need not be stored.
func revCap(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 1 << bits.Len32(n-1)
}

// appendRev adds r after the newest revision.
func (ki *keyIndex) appendRev(r revision) {
	n := ki.nrev
	if n == revCap(n) { // full
		grown := make([]revision, revCap(n+1))
		copy(grown, ki.revs())
		ki.revp = unsafe.SliceData(grown)
	}
	unsafe.Slice(ki.revp, n+1)[n] = r
	ki.nrev = n + 1
}

// last returns the newest revision; the key must have one.
func (ki *keyIndex) last() revision { return ki.revs()[ki.nrev-1] }

// live reports whether the key's last generation is open.
func (ki *keyIndex) live() bool { return ki.nrev > 0 && !ki.last().tomb() }

// put records a new version of the key at rev (starting a generation when
// the key is not live). rec is the engine's stored record of it when the
// store owns it (see keyIndex), else nil; its key begins at koff.
func (ki *keyIndex) put(rev revision, rec []byte, koff int) {
	if rev.sub >= ghostBit {
		panic("mvcc: sub-revision out of range")
	}
	if !ki.live() {
		ki.setGen(ki.nrev)
	}
	ki.appendRev(rev)
	if rec == nil {
		ki.dropRecord()
		return
	}
	if len(rec) > math.MaxUint32 {
		panic("mvcc: record larger than 4 GiB")
	}
	if koff > 0xff {
		panic("mvcc: record header longer than 255 bytes")
	}
	ki.rec, ki.n = unsafe.SliceData(rec), uint32(len(rec))
	ki.setKoff(uint32(koff))
}

// putGhost starts a generation whose creating put at created is gone, of
// which versions puts were made before the next entry: loading a history
// that compaction trimmed, as compact leaves the index.
func (ki *keyIndex) putGhost(created, versions int64) {
	if ki.live() {
		panic("mvcc: ghost inside a live generation")
	}
	ki.setGen(ki.nrev)
	ki.appendRev(revision{main: created, sub: ghostBit | versions})
}

// generation returns the live generation's create revision and the
// version of its newest put, from the index alone. The key must be live.
func (ki *keyIndex) generation() (created, version int64) {
	revs := ki.revs()
	g := int(ki.meta >> 8)
	if g == genUnknown {
		for g = len(revs) - 1; g > 0 && !revs[g-1].tomb(); g-- {
		}
	}
	first := revs[g]
	version = int64(len(revs) - g)
	if first.ghost() {
		version += first.sub&^ghostBit - 1
	}
	return first.main, version
}

// dropRecord forgets the cached record, keeping a private copy of the key.
func (ki *keyIndex) dropRecord() {
	if ki.koff() != 0 {
		ki.setKeyCopy(strings.Clone(ki.key()))
	}
}

// tombstone ends the current generation at rev. The key must be live.
func (ki *keyIndex) tombstone(rev revision) {
	if !ki.live() {
		panic("mvcc: tombstone of a key that is not live")
	}
	ki.appendRev(revision{main: rev.main, sub: rev.sub | tombBit})
	ki.dropRecord()
}

// record returns the cached record of the key's newest revision, or nil.
func (ki *keyIndex) record() []byte {
	if ki.koff() == 0 {
		return nil
	}
	return unsafe.Slice(ki.rec, ki.n)
}

// cached returns the record of rev when rec holds it (rev is the newest
// revision), else nil.
func (ki *keyIndex) cached(rev revision) []byte {
	if ki == nil || ki.koff() == 0 || ki.last() != rev {
		return nil
	}
	return ki.record()
}

// at returns the revision of the version visible at store revision atRev,
// or false when the key did not exist then: the newest revision at or
// below atRev (within one main revision the highest sub wins), unless that
// is a tombstone.
func (ki *keyIndex) at(atRev int64) (revision, bool) {
	revs := ki.revs()
	for i := len(revs) - 1; i >= 0; i-- {
		if r := revs[i]; r.main <= atRev {
			if r.tomb() || r.ghost() {
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
	revs := ki.revs()
	for i := len(revs) - 1; i > 0; i-- {
		if revs[i].plain() == rev {
			if p := revs[i-1]; !p.tomb() && !p.ghost() {
				return p, true
			}
			return revision{}, false
		}
	}
	return revision{}, false
}

// replacedBy returns the version the put (or the tombstone, when tomb) at
// main revision main replaced: its predecessor in its generation. False
// when that put created the key, or the change is not (or no longer) in
// the index.
//
// NB: a txn may change one key more than once in a revision (a from-key
// delete beside a put of the key, see span), and an event names only the
// main revision. This answers for the key's first change in main; the
// store fills a later change's PrevKv when it writes it (deleteKey).
func (ki *keyIndex) replacedBy(main int64, tomb bool) (revision, bool) {
	revs := ki.revs()
	first := -1
	for i := len(revs) - 1; i >= 0 && revs[i].main >= main; i-- {
		if revs[i].main == main {
			first = i
		}
	}
	if first <= 0 || revs[first].tomb() != tomb {
		return revision{}, false
	}
	if p := revs[first-1]; !p.tomb() && !p.ghost() {
		return p, true
	}
	return revision{}, false
}

// compact drops the revisions that no read at or after atRev can see: per
// generation, everything at or below atRev except the newest put, and a
// whole generation whose tombstone is at or below atRev. A generation that
// loses its first puts starts with a ghost in their place. Dropped
// revisions are passed to drop (without tombBit). It reports whether the
// key has no revisions left.
func (ki *keyIndex) compact(atRev int64, drop func(revision)) (empty bool) {
	revs := ki.revs()
	// In place: a generation writes at most as many entries as it had
	// (a ghost replaces at least one dropped put), so the write index
	// never passes the read index.
	kept := revs[:0]
	gen := 0
	for start := 0; start < len(revs); {
		end := start + 1 // the generation is revs[start:end]
		for end <= len(revs)-1 && !revs[end-1].tomb() {
			end++
		}
		g := revs[start:end]
		start = end
		i := -1 // last index in g with main <= atRev
		for j, r := range g {
			if r.main > atRev {
				break
			}
			i = j
		}
		switch {
		case i < 0 || i == 0 || (i == 1 && g[0].ghost()): // nothing to drop
			gen = len(kept)
			kept = append(kept, g...)
		case g[i].tomb():
			for _, r := range g {
				if !r.ghost() {
					drop(r.plain())
				}
			}
		default:
			ghost := revision{main: g[0].main, sub: ghostBit | int64(i)} // i puts before g[i]
			if g[0].ghost() {
				ghost.sub += g[0].sub&^ghostBit - 1
			}
			for _, r := range g[:i] {
				if !r.ghost() {
					drop(r)
				}
			}
			gen = len(kept)
			kept = append(kept, ghost)
			kept = append(kept, g[i:]...)
		}
	}
	clear(revs[len(kept):])
	n := uint32(len(kept))
	if revCap(n) < revCap(ki.nrev) { // give compacted space back
		ki.revp = nil
		if n > 0 {
			smaller := make([]revision, revCap(n))
			copy(smaller, kept)
			ki.revp = unsafe.SliceData(smaller)
		}
	}
	ki.nrev = n
	ki.setGen(uint32(gen))
	return n == 0
}

// index is the in-memory tree of key indexes, ordered by key, with a hash
// table beside it for point lookups: every put and single-key read looks
// its key up, and the table answers that in one hash instead of a dozen key
// comparisons down the tree. The two always hold the same key indexes. The
// table costs 9 bytes a slot, 12-23 bytes per indexed key (keyTable), and
// is never iterated, so its order reaches no output.
type index struct {
	tree  *btree.BTreeG[*keyIndex]
	byKey keyTable
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, lessKeyIndex), byKey: newKeyTable()}
}

// get returns the index of key, or nil.
func (x *index) get(key []byte) *keyIndex {
	return x.byKey.get(key)
}

// getOrCreate returns the index of key, adding an empty one (with a private
// copy of key) when missing.
func (x *index) getOrCreate(key []byte) *keyIndex {
	if ki := x.byKey.get(key); ki != nil {
		return ki
	}
	ki := newKeyIndex(key)
	x.tree.ReplaceOrInsert(ki)
	x.byKey.insert(ki)
	return ki
}

// remove drops ki, which has no revisions left.
func (x *index) remove(ki *keyIndex) {
	x.tree.Delete(ki)
	x.byKey.remove(ki)
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
