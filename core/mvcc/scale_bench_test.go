package mvcc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/engines/rocksdb"
)

// BenchmarkPutAtScaleRocksDB loads -footprint.keys keys of 1 KiB into a
// store on RocksDB, as BenchmarkStoreFootprintRocksDB does, then times puts
// of random existing keys (each reads the version it replaces from
// RocksDB). cpu-ns/op is the applying thread's CPU time, which a busy
// machine does not skew.
func BenchmarkPutAtScaleRocksDB(b *testing.B) {
	e, err := rocksdb.Open(b.TempDir(), rocksdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s, err := Open(e)
	if err != nil {
		b.Fatal(err)
	}
	n := *footprintKeys
	key := func(i int) []byte { return fmt.Appendf(nil, "/registry/pods/ns/pod-%09d", i) }
	value := make([]byte, 1024)
	var index uint64
	for lo := 0; lo < n; lo += 100 {
		txn := &pb.TxnRequest{}
		for i := lo; i < min(lo+100, n); i++ {
			txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: key(i), Value: value}}})
		}
		index++
		if res := s.Apply(index, &pb.InternalRaftRequest{Txn: txn}); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		index++
		req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key(r.IntN(n)), Value: value}}
		if res := s.Apply(index, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// threadCPU is the calling OS thread's CPU time (Linux; 0 elsewhere).
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
