package rocksdb_test

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"metastore/engines/rocksdb"
)

var scaleRecords = flag.Int("rocksdb.scale-records", 200_000, "BenchmarkGetAtScale: records to load")

// BenchmarkGetAtScale loads -rocksdb.scale-records records of 1 KiB the way
// the MVCC store writes them (ascending revision keys, 100 to a batch, with
// an applied-index key overwritten by every batch) and then times point
// reads of random present records (a put reading the version it replaces)
// and of absent ones (a new revision's key looked up before it is written),
// and logs RocksDB's memory by kind.
func BenchmarkGetAtScale(b *testing.B) {
	n := *scaleRecords
	e, err := rocksdb.Open(b.TempDir(), rocksdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	value := make([]byte, 1024)
	batch := e.NewBatch()
	for i := 0; i < n; i += 100 {
		batch.Reset()
		for j := i; j < min(i+100, n); j++ {
			batch.Set(revKey(uint64(j)), value)
		}
		batch.Set([]byte("applied"), revKey(uint64(i)))
		if err := e.Write(batch); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	b.Run("present", func(b *testing.B) {
		defer threadCPU(b)()
		for b.Loop() {
			if _, ok, err := e.Get(revKey(uint64(r.IntN(n)))); !ok || err != nil {
				b.Fatal("missing", err)
			}
		}
	})
	// Reads of a hot set of 10,000 records (10 MiB, well inside the block
	// cache), after a warm-up that lets them into it.
	b.Run("present-hot", func(b *testing.B) {
		const hot = 10_000
		for range 20 * hot {
			e.Get(revKey(uint64(r.IntN(hot))))
		}
		defer threadCPU(b)()
		for b.Loop() {
			if _, ok, err := e.Get(revKey(uint64(r.IntN(hot)))); !ok || err != nil {
				b.Fatal("missing", err)
			}
		}
	})
	b.Run("absent", func(b *testing.B) {
		defer threadCPU(b)()
		for b.Loop() {
			if _, ok, err := e.Get(revKey(uint64(n + r.IntN(n)))); ok || err != nil {
				b.Fatal("present", err)
			}
		}
	})
	// A whole-store scan of a frozen view running meanwhile (a snapshot
	// being written).
	b.Run("present-during-scan", func(b *testing.B) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				view := e.Snapshot()
				it := view.NewIter(nil, nil)
				for ok := it.First(); ok; ok = it.Next() {
					_ = it.Value()
					select {
					case <-stop:
						it.Close()
						view.Close()
						return
					default:
					}
				}
				it.Close()
				view.Close()
			}
		}()
		defer func() { close(stop); <-done }()
		defer threadCPU(b)()
		for b.Loop() {
			if _, ok, err := e.Get(revKey(uint64(r.IntN(n)))); !ok || err != nil {
				b.Fatal("missing", err)
			}
		}
	})
	ms := e.MemoryStats()
	b.Logf("%d records: block cache %d MiB (pinned %d), memtables %d MiB, table readers %d MiB; L0 files %s",
		n, ms.BlockCache>>20, ms.BlockCachePinned>>20, ms.Memtables>>20, ms.TableReaders>>20,
		e.Property("rocksdb.num-files-at-level0"))
}

// threadCPU locks the benchmark to its OS thread and returns a function
// that reports the thread's CPU time per op: the reads' own cost, without
// RocksDB's background threads or other processes on a busy machine.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(rusageThread, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}
