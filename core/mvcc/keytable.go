package mvcc

import (
	"hash/maphash"
	"unsafe"
)

// keyTable is a hash table from a key to its *keyIndex, the index's point
// lookup. A Go map[string]*keyIndex costs 40-57 bytes per key (a 24-byte
// slot, control bytes and growth slack); this table keeps only the pointer
// (the key is read from the keyIndex itself) and a one-byte tag per slot:
// open addressing with linear probing, at most 3/4 full, so 12 to 24 bytes
// per key. The tag (seven bits of the hash, high bit set) tells an empty
// slot from a used one and skips most non-matching slots without reading
// their key.
//
// The hash seed is random per table, as a Go map's is, so that clients
// cannot choose keys that collide; it changes where a key sits, never what
// a lookup answers, and the table is never iterated.
type keyTable struct {
	slots []*keyIndex
	tags  []uint8 // 0: empty
	n     int     // keys held
	seed  maphash.Seed
}

const keyTableMinSlots = 8

func newKeyTable() keyTable {
	return keyTable{
		slots: make([]*keyIndex, keyTableMinSlots),
		tags:  make([]uint8, keyTableMinSlots),
		seed:  maphash.MakeSeed(),
	}
}

// hash returns key's home slot and tag.
func (t *keyTable) hash(key string) (int, uint8) {
	h := maphash.String(t.seed, key)
	return int(h & uint64(len(t.slots)-1)), uint8(h>>57) | 0x80
}

// get returns the key index of key, or nil.
func (t *keyTable) get(key []byte) *keyIndex {
	k := unsafe.String(unsafe.SliceData(key), len(key)) // not kept
	mask := len(t.slots) - 1
	i, tag := t.hash(k)
	for ; t.tags[i] != 0; i = (i + 1) & mask {
		if t.tags[i] == tag && t.slots[i].key() == k {
			return t.slots[i]
		}
	}
	return nil
}

// insert adds ki, whose key the table does not hold.
func (t *keyTable) insert(ki *keyIndex) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	t.place(ki)
	t.n++
}

// place puts ki in the first free slot from its home.
func (t *keyTable) place(ki *keyIndex) {
	mask := len(t.slots) - 1
	i, tag := t.hash(ki.key())
	for t.tags[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i], t.tags[i] = ki, tag
}

// remove drops ki, which the table holds. Later members of its probe run
// move back into the hole (no deletion markers), so lookups stay as short
// as if ki had never been there.
func (t *keyTable) remove(ki *keyIndex) {
	mask := len(t.slots) - 1
	i, _ := t.hash(ki.key())
	for t.slots[i] != ki {
		if t.tags[i] == 0 {
			panic("mvcc: key table lost a key")
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.tags[j] != 0; j = (j + 1) & mask {
		home, _ := t.hash(t.slots[j].key())
		// j's entry may fill the hole at i unless its home lies in the
		// cyclic range (i, j]: then it must stay after its home.
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.tags[i] = t.slots[j], t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = nil, 0
	t.n--
	if len(t.slots) > keyTableMinSlots && 8*t.n < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

// resize rehashes every key into size slots (a power of two).
func (t *keyTable) resize(size int) {
	old := t.slots
	t.slots, t.tags = make([]*keyIndex, size), make([]uint8, size)
	for _, ki := range old {
		if ki != nil {
			t.place(ki)
		}
	}
}

// len returns the number of keys held.
func (t *keyTable) len() int { return t.n }
