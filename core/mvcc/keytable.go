package mvcc

import (
	"hash/maphash"
	"unsafe"
)

// keyTable is a hash table from a key to the number of its key index in a
// keySlab, the index's point lookup. A Go map[string]*keyIndex costs 40-57
// bytes per key (a 24-byte slot, control bytes and growth slack); this
// table keeps only the number (the key is read from the key index itself)
// and a one-byte tag per slot: open addressing with linear probing, at
// most 3/4 full, so 7 to 14 bytes per key, none of them a pointer for the
// collector to follow. The tag (seven bits of the hash, high bit set) tells an empty
// slot from a used one and skips most non-matching slots without reading
// their key.
//
// The hash seed is random per table, as a Go map's is, so that clients
// cannot choose keys that collide; it changes where a key sits, never what
// a lookup answers, and the table is never iterated.
type keyTable struct {
	keys  *keySlab
	slots []uint32
	tags  []uint8 // 0: empty
	n     int     // keys held
	seed  maphash.Seed
}

const keyTableMinSlots = 8

// newKeyTable returns an empty table of key indexes in keys.
func newKeyTable(keys *keySlab) keyTable {
	return keyTable{
		keys:  keys,
		slots: make([]uint32, keyTableMinSlots),
		tags:  make([]uint8, keyTableMinSlots),
		seed:  maphash.MakeSeed(),
	}
}

// hash returns key's home slot and tag.
func (t *keyTable) hash(key string) (int, uint8) { return t.slotOf(t.hashOf(key)) }

// hashOf returns key's hash, from which slotOf derives its home slot and
// tag at the table's current size.
func (t *keyTable) hashOf(key string) uint64 { return maphash.String(t.seed, key) }

func (t *keyTable) slotOf(h uint64) (int, uint8) {
	return int(h & uint64(len(t.slots)-1)), uint8(h>>57) | 0x80
}

// key returns the key of key index id.
func (t *keyTable) key(id uint32) string { return t.keys.at(id).key() }

// find returns the slot of key, or -1.
func (t *keyTable) find(key []byte) int {
	return t.findHashed(key, t.hashOf(unsafe.String(unsafe.SliceData(key), len(key))))
}

// findHashed is find of key whose hash is h.
func (t *keyTable) findHashed(key []byte, h uint64) int {
	k := unsafe.String(unsafe.SliceData(key), len(key)) // not kept
	mask := len(t.slots) - 1
	i, tag := t.slotOf(h)
	for ; t.tags[i] != 0; i = (i + 1) & mask {
		if t.tags[i] == tag && t.key(t.slots[i]) == k {
			return i
		}
	}
	return -1
}

// get returns the number of key's key index, or 0 (never a key index's:
// see pivotLo).
func (t *keyTable) get(key []byte) uint32 {
	if i := t.find(key); i >= 0 {
		return t.slots[i]
	}
	return 0
}

// insert adds key index id, whose key the table does not hold.
func (t *keyTable) insert(id uint32) { t.insertHashed(id, t.hashOf(t.key(id))) }

// insertHashed is insert of id whose key's hash is h: a put of a new key
// hashed it for the lookup that missed, and need not again.
func (t *keyTable) insertHashed(id uint32, h uint64) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	t.placeHashed(id, h)
	t.n++
}

// place puts id in the first free slot from its key's home.
func (t *keyTable) place(id uint32) { t.placeHashed(id, t.hashOf(t.key(id))) }

// placeHashed is place of id whose key's hash is h.
func (t *keyTable) placeHashed(id uint32, h uint64) {
	mask := len(t.slots) - 1
	i, tag := t.slotOf(h)
	for t.tags[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i], t.tags[i] = id, tag
}

// remove drops key, which the table holds, and returns its key index's
// number. Later members of its probe run move back into the hole (no
// deletion markers), so lookups stay as short as if key had never been
// there.
func (t *keyTable) remove(key []byte) uint32 {
	mask := len(t.slots) - 1
	i := t.find(key)
	if i < 0 {
		panic("mvcc: key table lost a key")
	}
	id := t.slots[i]
	for j := (i + 1) & mask; t.tags[j] != 0; j = (j + 1) & mask {
		home, _ := t.hash(t.key(t.slots[j]))
		// j's entry may fill the hole at i unless its home lies in the
		// cyclic range (i, j]: then it must stay after its home.
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.tags[i] = t.slots[j], t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = 0, 0
	t.n--
	if len(t.slots) > keyTableMinSlots && 8*t.n < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
	return id
}

// resize rehashes every key into size slots (a power of two).
func (t *keyTable) resize(size int) {
	old, oldTags := t.slots, t.tags
	t.slots, t.tags = make([]uint32, size), make([]uint8, size)
	for i, id := range old {
		if oldTags[i] != 0 {
			t.place(id)
		}
	}
}

// len returns the number of keys held.
func (t *keyTable) len() int { return t.n }
