package memory_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"metastore/engines/memory"
)

// revKey is shaped like an MVCC revision key: 8-byte main revision, '_',
// 8-byte sub revision.
func revKey(main uint64) []byte {
	k := make([]byte, 17)
	binary.BigEndian.PutUint64(k, main)
	k[8] = '_'
	return k
}

// BenchmarkWrite2Op writes batches shaped like one MVCC put: a new revision
// record (ascending key, 128-byte value) and an index record overwriting one
// of 1000 user keys.
func BenchmarkWrite2Op(b *testing.B) {
	for _, snapEvery := range []int{0, 16} {
		b.Run(fmt.Sprintf("snapshotEvery=%d", snapEvery), func(b *testing.B) {
			e := memory.New()
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
				// Taking a snapshot (a tree clone) makes the next write copy
				// the nodes on its path.
				if snapEvery > 0 && rev%uint64(snapEvery) == 0 {
					e.Snapshot().Close()
				}
			}
		})
	}
}

// fill returns an engine holding n revision keys with 128-byte values.
func fill(b *testing.B, n int) *memory.Engine {
	e := memory.New()
	batch := e.NewBatch()
	for i := range n {
		batch.Set(revKey(uint64(i)), make([]byte, 128))
	}
	if err := e.Write(batch); err != nil {
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
			ok = it.Next()
		}
		it.Close()
		i++
	}
}

// BenchmarkIterScan reads every key of a 100k-key snapshot in order: the
// shape of the snapshot writer, which dumps the whole store.
func BenchmarkIterScan(b *testing.B) {
	const n = 100_000
	e := fill(b, n)
	b.ReportAllocs()
	for b.Loop() {
		snap := e.Snapshot()
		it := snap.NewIter(nil, nil)
		keys := 0
		for ok := it.First(); ok; ok = it.Next() {
			keys++
		}
		it.Close()
		snap.Close()
		if keys != n {
			b.Fatalf("scanned %d of %d keys", keys, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}

// BenchmarkCollect measures what the engine's data costs the garbage
// collector: one full collection of a process holding an engine with 300k
// revision-keyed 290-byte records (about the size of an MVCC put's), per
// key. The server collects every few thousand puts on a large store, so
// this is paid over and over: node size and layout show up here first.
func BenchmarkCollect(b *testing.B) {
	e := memory.New()
	const n = 300_000
	batch := e.NewBatch()
	value := make([]byte, 290)
	for i := range n {
		batch.Set(revKey(uint64(i)), value)
		if batch.Len() == 1000 {
			if err := e.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := e.Write(batch); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	runtime.KeepAlive(e)
}
