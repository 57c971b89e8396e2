package mvcc

import (
	"encoding/binary"
	"fmt"
	"slices"

	"metastore/core/engine"
)

// dedupWindow is how many of the latest applied request IDs are remembered.
// A re-proposal older than that is applied again.
const dedupWindow = 100000

// dedupLog remembers the IDs of the last max applied requests. Its
// contents are replicated state: the engine holds d/<id> -> index, and the
// oldest record (lowest index) is pruned first, so every replica keeps the
// same set.
type dedupLog struct {
	max   int
	ids   idSet    // the IDs in order[head:]
	order []uint64 // IDs, oldest first, from head on
	head  int
	// scratch for engine keys and values (the batch copies them)
	kbuf [10]byte
	vbuf [8]byte
	slab recordSlab // records for a batch that keeps them (see add)
}

func newDedupLog(max int) *dedupLog {
	return &dedupLog{max: max, ids: idSet{words: make(map[uint64]uint64)}}
}

func (d *dedupLog) has(id uint64) bool { return d.ids.has(id) }

// len is the number of IDs remembered.
func (d *dedupLog) len() int { return len(d.order) - d.head }

// add records id, which it does not hold, as applied at index into b,
// pruning the oldest record when the window is full.
func (d *dedupLog) add(b engine.Batch, id, index uint64) {
	d.ids.add(id)
	d.order = append(d.order, id)
	if o, ok := ownedRecords(b); ok {
		// Records are pruned in the order they were added, so cutting
		// them from one slab after another keeps at most one slab's
		// worth of pruned records alive.
		kv := d.slab.cut(dedupKeyLen + 8)
		copy(kv, prefixDedup)
		binary.BigEndian.PutUint64(kv[2:], id)
		binary.BigEndian.PutUint64(kv[dedupKeyLen:], index)
		o.SetOwnedPair(kv, dedupKeyLen)
	} else {
		k, v := d.kbuf[:], d.vbuf[:]
		copy(k, prefixDedup)
		binary.BigEndian.PutUint64(k[2:], id)
		binary.BigEndian.PutUint64(v, index)
		setNew(b, k, v) // ids mirrors the records: id has none
	}
	for d.len() > d.max {
		old := d.order[d.head]
		d.head++
		d.ids.remove(old)
		k := d.kbuf[:]
		copy(k, prefixDedup)
		binary.BigEndian.PutUint64(k[2:], old)
		if sk, ok := b.(sizeKnownBatch); ok {
			sk.DeleteSized(k, 8)
		} else {
			b.Delete(k)
		}
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
}

// dedupKeyLen is the length of a dedup record's key, d/<id:8>.
const dedupKeyLen = 2 + 8

// idSet is an exact set of request IDs laid out for the IDs the dedup log
// holds: a few long ascending runs, one per proposing replica (core/propose.go
// newID counts up from a random start). It maps each 64-ID block to a bitmap
// of its members, so a window of 100,000 IDs in runs takes about 1,600 map
// entries, which stay in cache, where a map of the IDs themselves took
// 100,000 entries and a cache miss per lookup. IDs that do not fall in runs
// cost one entry each, as before.
type idSet struct {
	words map[uint64]uint64 // id>>6 -> bit id&63 set for each member
}

func (s *idSet) has(id uint64) bool {
	return s.words[id>>6]&(1<<(id&63)) != 0
}

func (s *idSet) add(id uint64) {
	s.words[id>>6] |= 1 << (id & 63)
}

func (s *idSet) remove(id uint64) {
	k := id >> 6
	if w := s.words[k] &^ (1 << (id & 63)); w != 0 {
		s.words[k] = w
	} else {
		delete(s.words, k)
	}
}

func (s *Store) loadDedup() error {
	type rec struct{ id, index uint64 }
	var recs []rec
	it := s.eng.NewIter(prefixDedup, prefixEnd(prefixDedup))
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefixDedup)+8 || len(v) != 8 {
			return fmt.Errorf("mvcc: load: corrupt dedup record %q", k)
		}
		recs = append(recs, rec{binary.BigEndian.Uint64(k[2:]), binary.BigEndian.Uint64(v)})
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("mvcc: load dedup records: %w", err)
	}
	slices.SortFunc(recs, func(a, b rec) int {
		if a.index != b.index {
			if a.index < b.index {
				return -1
			}
			return 1
		}
		if a.id < b.id {
			return -1
		} else if a.id > b.id {
			return 1
		}
		return 0
	})
	for _, r := range recs {
		s.dedup.ids.add(r.id)
		s.dedup.order = append(s.dedup.order, r.id)
	}
	return nil
}
