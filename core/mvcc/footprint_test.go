package mvcc

import (
	"encoding/binary"
	"runtime"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// maxHeapPerKey bounds what a 16-byte key with a 256-byte value costs the
// store on the memory engine: the record (320 bytes with its size class),
// the key index with its one revision (48, in a slab), the key table and
// both trees' slots (about 40 at this size): about 410 in all when
// written. The bound has some slack for the Go runtime; a record in the
// next size class crosses it (TestKeyIndexFits48Bytes guards the key
// index).
const maxHeapPerKey = 460

// TestHeapPerKey loads 40,000 keys the way the benchmark does
// (sequential 16-byte keys, 256-byte values) and checks the live heap that
// costs per key, so the packing of records, key indexes and tree slots does
// not quietly come undone (BenchmarkFootprint in core measures the whole
// replica at scale).
func TestHeapPerKey(t *testing.T) {
	const n = 40_000
	// One request, rewritten for every key: the store must keep nothing
	// of it.
	put := &pb.PutRequest{Key: make([]byte, 16), Value: make([]byte, 256)}
	req := &pb.InternalRaftRequest{Put: put}
	before := liveHeap()
	s := newStore(t)
	for i := range n {
		binary.BigEndian.PutUint64(put.Key[8:], uint64(i))
		if res := s.Apply(uint64(i+1), req); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	perKey := float64(liveHeap()-before) / n
	runtime.KeepAlive(s)
	t.Logf("%.0f bytes/key of live heap", perKey)
	if perKey > maxHeapPerKey {
		t.Errorf("%.0f bytes/key of live heap, more than %d", perKey, maxHeapPerKey)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
