package rocksdb

import (
	"bytes"
	"fmt"

	"github.com/linxGnu/grocksdb"

	"metastore/core/engine"
)

// revisionKeys: the keys in [revLower, revUpper), the MVCC store's
// revision records (core/mvcc: "r/" and the 17-byte revision), live in a
// column family of their own, everything else (the applied index, dedup
// records, leases, members...) in the default one. Callers see one key
// space: reads and writes go to the key's family, a WriteBatch spans both
// atomically (one WAL), and an iterator whose range crosses the boundary
// walks the families' segments in key order (concatIter).
//
// Why: revision keys only ever grow, so a memtable of revisions flushes to
// an L0 file above everything already stored, which RocksDB moves down a
// level without rewriting it (a trivial move). Kept with the metadata,
// every flushed file also held m/applied and a range of d/ records, below
// every revision: each file's range then spanned the whole store, and
// every compaction out of L0 (every four flushes) rewrote all of it. At
// 2,000,000 keys of 1 KiB that was 0.4-0.65 s of the member's CPU, often
// right after a load (BenchmarkScaleRocksDB's full-store puts: 37-65 µs
// per put of RocksDB's threads, against 0 on an empty store), and the
// whole store's bytes in writes with values that compress less than the
// benchmark's.
var (
	revLower = []byte("r/")
	revUpper = []byte("r0") // '0' follows '/'
)

// revisionsColumnFamily names the column family of revision keys.
const revisionsColumnFamily = "revisions"

// metaWriteBufferBytes sizes the default family's memtables: it takes
// about a hundred bytes per apply batch (the applied index, a dedup record
// and its prune) against the revision record's kilobyte of a 1 KiB put, so
// a sixteenth of the revisions' memtable flushes about as often. It should
// not flush much less often: RocksDB keeps every WAL file holding data a
// family has not flushed, and replays it after a crash.
func metaWriteBufferBytes(revisions uint64) uint64 { return max(revisions/16, 256<<10) }

// columnFamily is key's family. The caller holds e.mu shared on an open
// engine.
func (e *Engine) columnFamily(key []byte) *grocksdb.ColumnFamilyHandle {
	if bytes.HasPrefix(key, revLower) {
		return e.revs
	}
	return e.meta
}

// keySegment is a range [lower, upper) (upper nil: unbounded) of the key
// space held by one column family.
type keySegment struct {
	cf           *grocksdb.ColumnFamilyHandle
	lower, upper []byte
}

// keySegments cut the key space into its families' ranges, in key order.
func (e *Engine) keySegments() [3]keySegment {
	return [3]keySegment{
		{e.meta, []byte{}, revLower},
		{e.revs, revLower, revUpper},
		{e.meta, revUpper, nil},
	}
}

// migrateRevisions moves revision keys a database made before the split
// holds in the default family into the revisions family, in batches of a
// few MiB, each moving its keys atomically (put there, delete here), so a
// crash midway leaves every key in exactly one family and the next Open
// finishes the move. The caller is Open, before anyone else sees e.
func (e *Engine) migrateRevisions() error {
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateLowerBound(revLower)
	ro.SetIterateUpperBound(revUpper)
	ro.SetFillCache(false)
	it := e.db.NewIteratorCF(ro, e.meta)
	defer it.Close()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	moved, pending := 0, 0
	flush := func() error {
		if wb.Count() == 0 {
			return nil
		}
		if err := e.db.Write(e.wo, wb); err != nil {
			return fmt.Errorf("moving revisions to their column family: %w", err)
		}
		wb.Clear()
		pending = 0
		return nil
	}
	for it.Seek(revLower); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		wb.PutCF(e.revs, k.Data(), v.Data())
		wb.DeleteCF(e.meta, k.Data())
		pending += k.Size() + v.Size()
		k.Free()
		v.Free()
		moved++
		if pending >= maxKeptBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("moving revisions to their column family: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	if moved > 0 {
		if err := e.db.FlushWAL(true); err != nil {
			return err
		}
		// Drop the tombstones the move left in the default family.
		e.db.CompactRangeCF(e.meta, grocksdb.Range{Start: revLower, Limit: revUpper})
	}
	return nil
}

// concatIter walks iterators over consecutive ranges of the key space as
// one: each move goes to the current part and, at a part's end, on to the
// next part's first (or the previous part's last) key.
type concatIter struct {
	parts []*iter
	cur   int // the part the last move ended on
}

var _ engine.Iterator = (*concatIter)(nil)

// forward positions at the first key of parts from i on, part i moved by
// move and the later ones by First.
func (c *concatIter) forward(i int, move func(*iter) bool) bool {
	for ; i < len(c.parts); i++ {
		c.cur = i
		if move(c.parts[i]) {
			return true
		}
		if c.parts[i].Error() != nil {
			return false
		}
		move = (*iter).First
	}
	return false
}

// backward is forward's mirror: parts from i down, moved by move then Last.
func (c *concatIter) backward(i int, move func(*iter) bool) bool {
	for ; i >= 0; i-- {
		c.cur = i
		if move(c.parts[i]) {
			return true
		}
		if c.parts[i].Error() != nil {
			return false
		}
		move = (*iter).Last
	}
	return false
}

func (c *concatIter) First() bool { return c.forward(0, (*iter).First) }

func (c *concatIter) Last() bool { return c.backward(len(c.parts)-1, (*iter).Last) }

// SeekGE starts in the part whose range holds key: the first part when key
// is below them all, the last (which finds nothing) when it is past them.
func (c *concatIter) SeekGE(key []byte) bool {
	i := 0
	for i < len(c.parts)-1 && bytes.Compare(key, c.parts[i].upper) >= 0 {
		i++
	}
	return c.forward(i, func(it *iter) bool { return it.SeekGE(key) })
}

func (c *concatIter) Next() bool {
	if !c.Valid() {
		return false
	}
	return c.forward(c.cur, (*iter).Next)
}

func (c *concatIter) Prev() bool {
	if !c.Valid() {
		return false
	}
	return c.backward(c.cur, (*iter).Prev)
}

func (c *concatIter) Valid() bool { return c.parts[c.cur].Valid() }

func (c *concatIter) Key() []byte { return c.parts[c.cur].Key() }

func (c *concatIter) Value() []byte { return c.parts[c.cur].Value() }

// Error is the first part's error: a failed part ends the walk there.
func (c *concatIter) Error() error {
	for _, p := range c.parts {
		if err := p.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every part and returns the first error.
func (c *concatIter) Close() error {
	var first error
	for _, p := range c.parts {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
