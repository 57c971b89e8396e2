package mvcc

import (
	"bytes"
	"encoding/binary"
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
// A million keys make a million of these, and the garbage collector
// follows every pointer among them on every cycle: on a loaded store that
// marking was most of what a put cost beyond an empty store's (the cost is
// per pointer, a span lookup each, more than per byte). So key indexes do
// not live in allocations of their own: the index keeps them in slab
// chunks (keySlab) and refers to them by number, and a key with a single
// revision keeps it inline (only) instead of in an array of its own. A
// key written once costs the collector the one rec pointer; the fields
// are packed (two pointers with their lengths beside them instead of a
// string and a slice header) so that an entry takes 48 bytes.
type keyIndex struct {
	rec  *byte     // rec[:n]
	revp *revision // revs() when there are two or more, with room for revCap(nrev); sub carries tombBit or ghostBit
	n    uint32
	// meta packs koff (the record header's length, at most 51 bytes) in
	// its low 8 bits and gen, the index in revs of the newest
	// generation's first entry, in the high 24 (genUnknown: too far in,
	// found by a scan).
	meta uint32
	klen uint32
	nrev uint32
	only revision // revs() when there is at most one
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

func (r revision) tomb() bool      { return r.sub&tombBit != 0 }
func (r revision) ghost() bool     { return r.sub&ghostBit != 0 }
func (r revision) plain() revision { return revision{main: r.main, sub: r.sub &^ tombBit} }

// setKey makes a private copy of key the key's bytes.
func (ki *keyIndex) setKey(key []byte) {
	ki.setKeyCopy(strings.Clone(unsafe.String(unsafe.SliceData(key), len(key))))
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

// revs returns the revisions, oldest first. Changes go through appendRev
// and compact only.
func (ki *keyIndex) revs() []revision {
	if ki.nrev <= 1 {
		return unsafe.Slice(&ki.only, ki.nrev)
	}
	return unsafe.Slice(ki.revp, ki.nrev)
}

// revCap is the room allocated for n revisions, two or more: the next
// power of two, so that appends double it and the capacity need not be
// stored.
func revCap(n uint32) uint32 {
	if n <= 1 {
		return 0 // inline
	}
	return 1 << bits.Len32(n-1)
}

// appendRev adds r after the newest revision.
func (ki *keyIndex) appendRev(r revision) {
	n := ki.nrev
	switch {
	case n == 0:
		ki.only = r
	case n == 1 || n == revCap(n): // inline or full
		grown := make([]revision, revCap(n+1))
		copy(grown, ki.revs())
		grown[n] = r
		// NB: only keeps its stale copy, as an outgrown array did: a
		// revs() taken before this append still reads what it read.
		ki.revp = unsafe.SliceData(grown)
	default:
		unsafe.Slice(ki.revp, n+1)[n] = r
	}
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
	switch {
	case ki.nrev > 1 && n <= 1: // back inline
		ki.only = revision{}
		if n == 1 {
			ki.only = kept[0]
		}
		ki.revp = nil
	case revCap(n) < revCap(ki.nrev): // give compacted space back
		smaller := make([]revision, revCap(n))
		copy(smaller, kept)
		ki.revp = unsafe.SliceData(smaller)
	}
	ki.nrev = n
	ki.setGen(uint32(gen))
	return n == 0
}

// index is the in-memory tree of key indexes, ordered by key, with a hash
// table beside it for point lookups: every put and single-key read looks
// its key up, and the table answers that in one hash instead of a dozen key
// comparisons down the tree. The two always hold the same key indexes. The
// table costs 5 bytes a slot, 7-13 bytes per indexed key (keyTable), and
// is never iterated, so its order reaches no output.
//
// Both refer to a key index by its number in keys, not by pointer: the
// tree's nodes and the table's slots then hold no pointers, and the
// collector, which on a large store marks the index over and over, skips
// them (see keyIndex).
//
// A tree slot also carries the first 12 bytes of its key (treeItem), so a
// comparison down the tree reads the key itself only when those agree: a
// new key's insert compares against ~20 slots, and reading each slot's key
// through the slab cost two cache misses (the key index, then its record),
// which made the insert most of a new key's apply. The slot grows from 4
// to 16 bytes, ~25 more bytes per key at the tree's usual fill.
type index struct {
	keys  keySlab
	tree  *btree.BTreeG[treeItem]
	byKey keyTable
}

// treeItem is a slot of the index tree: key index id with its key's first
// 12 bytes, big-endian and zero-padded. Padded prefixes order keys as the
// keys do wherever the prefixes differ (a key that ends inside the prefix
// pads with zero bytes, below any byte a longer key has there unless that
// byte is zero too, and then the prefixes are equal): equal prefixes fall
// back to the whole keys.
type treeItem struct {
	hi uint64 // key bytes 0-7
	lo uint32 // key bytes 8-11
	id uint32
}

// newTreeItem returns the tree slot of key index id, whose key is key.
func newTreeItem(id uint32, key string) treeItem {
	var b [12]byte
	copy(b[:], key)
	return treeItem{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint32(b[8:]), id: id}
}

// lessFunc returns the order of tree slots by key. It is a closure with
// the prefix comparisons in its body, not the method value x.less: the tree
// calls it ~20 times a new key, and a method value's call goes through a
// wrapper, a second call each time (~330 instructions of a new key's put,
// 3.5%, in BenchmarkPutNewKeys).
func (x *index) lessFunc() func(a, b treeItem) bool {
	return func(a, b treeItem) bool {
		if a.hi != b.hi {
			return a.hi < b.hi
		}
		if a.lo != b.lo {
			return a.lo < b.lo
		}
		return x.lessKeys(a.id, b.id)
	}
}

// lessKeys orders key indexes a and b by their whole keys.
func (x *index) lessKeys(a, b uint32) bool {
	return x.keys.at(a).key() < x.keys.at(b).key()
}

// Key index numbers pivotLo and pivotHi are never handed out: a lookup in
// the tree sets their key to the one it looks for (see setPivot), as the
// tree compares numbers through their keys.
const (
	pivotLo = iota
	pivotHi
	firstKeyIndex
)

func newIndex() *index {
	x := &index{}
	x.keys.chunks = append(x.keys.chunks, new([keySlabChunk]keyIndex)) // the pivots'
	x.keys.next = firstKeyIndex
	x.tree = btree.NewG(32, x.lessFunc())
	x.byKey = newKeyTable(&x.keys)
	return x
}

// get returns the index of key, or nil.
func (x *index) get(key []byte) *keyIndex {
	if id := x.byKey.get(key); id != 0 {
		return x.keys.at(id)
	}
	return nil
}

// getOrCreate returns the index of key, adding an empty one (with a private
// copy of key) when missing.
func (x *index) getOrCreate(key []byte) *keyIndex {
	ki, created := x.getOrBorrow(key)
	if created {
		ki.setKey(key)
	}
	return ki
}

// getOrBorrow is getOrCreate, except that a new key index (created) refers
// to key itself: the caller gives it a record (keyIndex.put) or a copy
// (setKey) before key may change. A put on the memory engine gives it the
// record at once, and the copy was garbage from birth.
func (x *index) getOrBorrow(key []byte) (ki *keyIndex, created bool) {
	h := x.byKey.hashOf(unsafe.String(unsafe.SliceData(key), len(key)))
	if i := x.byKey.findHashed(key, h); i >= 0 {
		return x.keys.at(x.byKey.slots[i]), false
	}
	id := x.keys.alloc()
	ki = x.keys.at(id)
	ki.setKeyCopy(unsafe.String(unsafe.SliceData(key), len(key))) // borrowed, see above
	x.tree.ReplaceOrInsert(newTreeItem(id, ki.key()))
	x.byKey.insertHashed(id, h)
	return ki, true
}

// remove drops ki, which has no revisions left. Its number is reused.
func (x *index) remove(ki *keyIndex) {
	id := x.byKey.remove(ki.keyBytes())
	x.tree.Delete(newTreeItem(id, ki.key()))
	x.keys.release(id)
}

// setPivot makes pivot (pivotLo or pivotHi) stand for key, which it
// aliases and which must not change until clearPivots.
func (x *index) setPivot(pivot uint32, key []byte) treeItem {
	p := x.keys.at(pivot)
	p.rec, p.n, p.klen, p.meta = unsafe.SliceData(key), uint32(len(key)), uint32(len(key)), 0
	return newTreeItem(pivot, p.key())
}

// clearPivots lets go of the keys the pivots aliased.
func (x *index) clearPivots() {
	*x.keys.at(pivotLo), *x.keys.at(pivotHi) = keyIndex{}, keyIndex{}
}

// ascend calls fn for every key index in key order until fn returns false.
func (x *index) ascend(fn func(*keyIndex) bool) {
	x.tree.Ascend(func(it treeItem) bool { return fn(x.keys.at(it.id)) })
}

// visit calls fn for each key index in the span of (key, end) in key order
// until fn returns false. end follows etcd: nil for the single key,
// "\x00" for every key >= key, otherwise the half-open [key, end), empty
// when end <= key. fn may not visit again (the pivots are in use).
func (x *index) visit(key, end []byte, fn func(*keyIndex) bool) {
	each := func(it treeItem) bool { return fn(x.keys.at(it.id)) }
	switch {
	case len(end) == 0:
		if ki := x.get(key); ki != nil {
			fn(ki)
		}
	case len(end) == 1 && end[0] == 0:
		x.tree.AscendGreaterOrEqual(x.setPivot(pivotLo, key), each)
		x.clearPivots()
	case bytes.Compare(key, end) < 0:
		x.tree.AscendRange(x.setPivot(pivotLo, key), x.setPivot(pivotHi, end), each)
		x.clearPivots()
	}
}

// keySlab holds key indexes in chunks of keySlabChunk, by number. A chunk
// is one allocation that the collector scans as a whole, and nothing
// points into it but transient *keyIndex values: the slab costs no
// allocation per key. Numbers of removed key indexes are reused (the
// last freed first), and chunks are never given back: a store that shrank
// keeps its index's peak size, 48 bytes a key.
type keySlab struct {
	chunks []*[keySlabChunk]keyIndex
	free   []uint32
	next   uint32 // the lowest number never handed out
}

const (
	keySlabBits  = 10
	keySlabChunk = 1 << keySlabBits // 48 KiB of key indexes
)

// at returns key index id.
func (s *keySlab) at(id uint32) *keyIndex {
	return &s.chunks[id>>keySlabBits][id&(keySlabChunk-1)]
}

// alloc returns the number of an empty key index.
func (s *keySlab) alloc() uint32 {
	if n := len(s.free); n > 0 {
		id := s.free[n-1]
		s.free = s.free[:n-1]
		return id
	}
	if s.next == math.MaxUint32 {
		panic("mvcc: more than 4 billion keys")
	}
	id := s.next
	s.next++
	for int(id>>keySlabBits) >= len(s.chunks) {
		s.chunks = append(s.chunks, new([keySlabChunk]keyIndex))
	}
	return id
}

// release empties key index id (dropping its references for the
// collector) for reuse.
func (s *keySlab) release(id uint32) {
	*s.at(id) = keyIndex{}
	s.free = append(s.free, id)
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
