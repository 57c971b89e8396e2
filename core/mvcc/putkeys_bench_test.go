package mvcc

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
)

// BenchmarkPutOverKeysRocksDB loads -footprint.keys keys of 1 KiB into a
// store on RocksDB (default options), then applies b.N puts of 1 KiB to
// random existing keys, one request each (with prev_kv in the PrevKV
// variant, which must read the version it replaces). cpu-ns/op is the
// process's CPU time per put, RocksDB's background threads included, which
// a busy machine skews far less than ns/op.
func BenchmarkPutOverKeysRocksDB(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchPutOverKeys(b, false) })
	b.Run("PrevKV", func(b *testing.B) { benchPutOverKeys(b, true) })
}

func benchPutOverKeys(b *testing.B, prevKV bool) {
	e, s := openRocksStore(b)
	defer e.Close()
	n := *footprintKeys
	value := make([]byte, 1024)
	index := loadPodKeys(b, s, n, value)
	rng := rand.New(rand.NewPCG(1, 2))
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		index++
		req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: podKey(rng.IntN(n)), Value: value, PrevKv: prevKV}}
		if res := s.Apply(index, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPutWithIDRocksDB is the server's put as the store sees it on
// RocksDB: 256-byte values to keys drawn from 100,000, each request with an
// ascending ID (as core's proposals number them), after enough puts that
// the dedup window is full and every put also prunes its oldest record.
// The engine's writes are handed to the OS every 64 KiB of requests, as
// the replica does (core's engineFlushBytes). cpu-ns/op includes RocksDB's
// flush and compaction threads.
func BenchmarkPutWithIDRocksDB(b *testing.B) {
	e, s := openRocksStore(b)
	defer e.Close()
	const keys = 100_000
	const flushBytes = 64 << 10
	flusher, _ := engine.Engine(e).(engine.WriteFlusher)
	unflushed := 0
	value := make([]byte, 256)
	rng := rand.New(rand.NewPCG(1, 2))
	var index uint64
	id := rng.Uint64() >> 1
	put := func() {
		index++
		id++
		req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: id},
			Put: &pb.PutRequest{Key: fmt.Appendf(nil, "%08d", rng.IntN(keys)), Value: value}}
		if res := s.Apply(index, req); res.Err != nil {
			b.Fatal(res.Err)
		}
		if unflushed += len(value) + 32; flusher != nil && unflushed >= flushBytes { // about the entry's size
			if err := flusher.FlushWrites(); err != nil {
				b.Fatal(err)
			}
			unflushed = 0
		}
	}
	for range dedupWindow + keys/10 {
		put()
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		put()
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
