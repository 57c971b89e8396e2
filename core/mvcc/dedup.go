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
	ids   map[uint64]uint64 // request ID -> raft index applied at
	order []uint64          // IDs, oldest first, from head on
	head  int
	// scratch for engine keys and values (the batch copies them)
	kbuf [10]byte
	vbuf [8]byte
}

func newDedupLog(max int) *dedupLog {
	return &dedupLog{max: max, ids: make(map[uint64]uint64)}
}

func (d *dedupLog) has(id uint64) bool {
	_, ok := d.ids[id]
	return ok
}

// add records id as applied at index into b, pruning the oldest record when
// the window is full.
func (d *dedupLog) add(b engine.Batch, id, index uint64) {
	d.ids[id] = index
	d.order = append(d.order, id)
	k, v := d.kbuf[:], d.vbuf[:]
	copy(k, prefixDedup)
	binary.BigEndian.PutUint64(k[2:], id)
	binary.BigEndian.PutUint64(v, index)
	setNew(b, k, v) // ids mirrors the records: id has none
	for len(d.ids) > d.max {
		old := d.order[d.head]
		d.head++
		delete(d.ids, old)
		binary.BigEndian.PutUint64(k[2:], old)
		if sk, ok := b.(sizeKnownBatch); ok {
			sk.DeleteSized(k, len(v))
		} else {
			b.Delete(k)
		}
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
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
		s.dedup.ids[r.id] = r.index
		s.dedup.order = append(s.dedup.order, r.id)
	}
	return nil
}
