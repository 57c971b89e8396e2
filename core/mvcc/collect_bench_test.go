package mvcc

import (
	"encoding/binary"
	"runtime"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/engines/memory"
)

// BenchmarkCollectStore measures what a loaded store costs the garbage
// collector: CPU time of one full collection of a process holding a
// memory-engine store of 300k keys written the way the load writes
// them (sequential 16-byte keys, 256-byte values), per key. A server with a large store collects every few thousand
// puts, so this is paid over and over: it is most of what a put costs on a
// loaded store beyond an empty one.
func BenchmarkCollectStore(b *testing.B) {
	const n = 300_000
	put := &pb.PutRequest{Key: make([]byte, 16), Value: make([]byte, 256)}
	req := &pb.InternalRaftRequest{Put: put}
	s, err := Open(memory.New())
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		binary.BigEndian.PutUint64(put.Key[8:], uint64(i))
		if res := s.Apply(uint64(i+1), req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	runtime.GC()
	cpu0 := processCPU()
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*n), "cpu-ns/key")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	runtime.KeepAlive(s)
}
