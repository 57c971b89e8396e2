package rocksdb_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"metastore/engines/rocksdb"
)

// The same shapes as engines/memory's benchmarks, so the two compare.

// revKey is shaped like an MVCC revision key: 8-byte main revision, '_',
// 8-byte sub revision.
func revKey(main uint64) []byte {
	k := make([]byte, 17)
	binary.BigEndian.PutUint64(k, main)
	k[8] = '_'
	return k
}

func benchEngine(b *testing.B) *rocksdb.Engine {
	e, err := rocksdb.Open(b.TempDir(), rocksdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkWrite2Op writes batches shaped like one MVCC put: a new revision
// record (ascending key, 128-byte value) and an index record overwriting one
// of 1000 user keys. RocksDB's WAL is written, not synced.
func BenchmarkWrite2Op(b *testing.B) {
	e := benchEngine(b)
	value := make([]byte, 128)
	var idx [1000][]byte
	for i := range idx {
		idx[i] = fmt.Appendf(nil, "/registry/pods/default/pod-%04d", i)
	}
	batch := e.NewBatch()
	var rev uint64
	b.ReportAllocs()
	for b.Loop() {
		rev++
		batch.Reset()
		batch.Set(revKey(rev), value)
		batch.Set(idx[rev%1000], revKey(rev))
		if err := e.Write(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func fill(b *testing.B, n int) *rocksdb.Engine {
	e := benchEngine(b)
	batch := e.NewBatch()
	for i := range n {
		batch.Set(revKey(uint64(i)), make([]byte, 128))
	}
	if err := e.Write(batch); err != nil {
		b.Fatal(err)
	}
	if err := e.Flush(); err != nil { // read from SST files, not the memtable
		b.Fatal(err)
	}
	return e
}

// BenchmarkGet reads random present keys from a 100k-key engine.
func BenchmarkGet(b *testing.B) {
	const n = 100_000
	e := fill(b, n)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = revKey(uint64(i * 7919 % n))
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := e.Get(keys[i%len(keys)]); !ok {
			b.Fatal("missing key")
		}
		i++
	}
}

// BenchmarkIterSeekNext opens an iterator, seeks, and reads 10 keys: the
// shape of a small MVCC range read.
func BenchmarkIterSeekNext(b *testing.B) {
	const n = 100_000
	e := fill(b, n)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		it := e.NewIter(nil, nil)
		ok := it.SeekGE(revKey(uint64(i * 7919 % n)))
		for j := 0; ok && j < 9; j++ {
			_ = it.Value()
			ok = it.Next()
		}
		it.Close()
		i++
	}
}

// BenchmarkWriteApplyBatch writes batches shaped like the MVCC store's
// apply of one put: its revision record (r/ and an ascending revision, a
// 300-byte record), the applied index (m/applied, overwritten each time),
// the request's dedup record (d/ and the request id) and, the window being
// full, the deletion of the oldest dedup record, into a memtable that
// already holds 100k of them. The store's request ids are random
// (core.Replica.newID): the random sub-benchmark has them so, the
// sequential one shows what ascending ids would cost instead.
func BenchmarkWriteApplyBatch(b *testing.B) {
	for _, ids := range []string{"random", "sequential"} {
		b.Run(ids, func(b *testing.B) {
			e := benchEngine(b)
			record := make([]byte, 300)
			batch := e.NewBatch()
			random := rand.New(rand.NewPCG(1, 2))
			const window = 100_000
			var rev uint64
			var issued []uint64
			put := func() {
				rev++
				id := rev
				if ids == "random" {
					id = random.Uint64()
				}
				issued = append(issued, id)
				batch.Reset()
				batch.Set(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte("r/"), rev), 0), record)
				batch.Set([]byte("m/applied"), binary.BigEndian.AppendUint64(nil, rev))
				batch.Set(binary.BigEndian.AppendUint64([]byte("d/"), id), binary.BigEndian.AppendUint64(nil, rev))
				if len(issued) > window {
					batch.Delete(binary.BigEndian.AppendUint64([]byte("d/"), issued[len(issued)-window-1]))
				}
				if err := e.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			for range window {
				put()
			}
			b.ReportAllocs()
			for b.Loop() {
				put()
			}
		})
	}
}

// BenchmarkIterScan walks a 100k-key engine reading every key and value,
// as a snapshot dump or a restart's key index rebuild does; ns/op is per
// key.
func BenchmarkIterScan(b *testing.B) {
	const n = 100_000
	e := fill(b, n)
	b.ReportAllocs()
	it := e.NewIter(nil, nil)
	defer it.Close()
	ok := it.First()
	for b.Loop() {
		if !ok {
			ok = it.First()
		}
		_, _ = it.Key(), it.Value()
		ok = it.Next()
	}
}
