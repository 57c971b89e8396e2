package mvcc

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// BenchmarkPut applies puts of 100-byte values to 16-byte keys drawn from a
// set of 10,000, on the memory engine, in a steady state where every key
// exists. engine-ops/op counts the engine pairs written per put.
func BenchmarkPut(b *testing.B) { benchPut(b, false) }

// BenchmarkPutWithID is BenchmarkPut with a request ID on every put, so the
// dedup record (and, past the window, its pruning) is part of the cost.
func BenchmarkPutWithID(b *testing.B) { benchPut(b, true) }

// BenchmarkPutWithProposerIDs is BenchmarkPutWithID with the request IDs a
// 3-member cluster's log carries: each member counts up from its own random
// start (core/propose.go newID), and the members' proposals interleave in
// no fixed order. The dedup window is full before timing starts, so every
// put also prunes the oldest record. Each put is applied on its own.
func BenchmarkPutWithProposerIDs(b *testing.B) { benchPutProposerIDs(b, 1) }

// BenchmarkPutGroupedWithProposerIDs is BenchmarkPutWithProposerIDs with the
// puts applied in groups of 32, as the replica applies the entries of one
// Ready (mvcc.Store.BeginApplyGroup).
func BenchmarkPutGroupedWithProposerIDs(b *testing.B) { benchPutProposerIDs(b, 32) }

// benchPutRequests returns puts of 100-byte values to 10,000 distinct keys.
func benchPutRequests() []*pb.InternalRaftRequest {
	reqs := make([]*pb.InternalRaftRequest, 10000)
	value := make([]byte, 100)
	for i := range reqs {
		key := []byte(fmt.Sprintf("key-%012d", i))
		reqs[i] = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: value}, Header: &pb.RequestHeader{}}
	}
	return reqs
}

func benchPutProposerIDs(b *testing.B, group int) {
	s := newStore(b)
	reqs := benchPutRequests()
	next := []uint64{0x9e3779b97f4a7c15, 0x6a09e667f3bcc908, 0xbb67ae8584caa73b}
	rng := uint64(0x2545f4914f6cdd1d)
	var index uint64
	i := 0
	apply := func() {
		if i%group == 0 {
			if err := s.EndApplyGroup(); err != nil {
				b.Fatal(err)
			}
			if group > 1 {
				s.BeginApplyGroup()
			}
		}
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		p := rng % uint64(len(next))
		index++
		r := reqs[i%len(reqs)]
		r.Header.ID = next[p]
		next[p]++
		if res := s.Apply(index, r); res.Err != nil || res.Duplicate {
			b.Fatalf("apply %d: %v (duplicate %v)", index, res.Err, res.Duplicate)
		}
		i++
	}
	for range dedupWindow + len(reqs) {
		apply()
	}
	b.ReportAllocs()
	for b.Loop() {
		apply()
	}
}

func benchPut(b *testing.B, withID bool) {
	s := newStore(b)
	reqs := benchPutRequests()
	var index uint64
	for _, r := range reqs {
		index++
		s.Apply(index, r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		index++
		r := reqs[i%len(reqs)]
		if withID {
			r.Header.ID = index
		}
		if res := s.Apply(index, r); res.Err != nil {
			b.Fatal(res.Err)
		}
		i++
	}
}

// BenchmarkTxnPut is BenchmarkPut with each put sent as etcd's benchmark
// txn-put sends it: a txn with no compares and the put alone in its
// success branch.
func BenchmarkTxnPut(b *testing.B) {
	s := newStore(b)
	reqs := make([]*pb.InternalRaftRequest, 10000)
	value := make([]byte, 100)
	for i := range reqs {
		key := []byte(fmt.Sprintf("key-%012d", i))
		op := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: value}}}
		reqs[i] = &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{op}}, Header: &pb.RequestHeader{}}
	}
	var index uint64
	for _, r := range reqs {
		index++
		s.Apply(index, r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		index++
		if res := s.Apply(index, reqs[i%len(reqs)]); res.Err != nil {
			b.Fatal(res.Err)
		}
		i++
	}
}

// BenchmarkPutNewKeys is BenchmarkPut where every put creates its key (a
// fresh cluster under the bench tool creates most of its keys): the index
// insert and the key's first record. Keys are the bench tool's, 8 decimal
// digits, in scattered order; the key's buffer is reused, as a decoder's
// may be.
func BenchmarkPutNewKeys(b *testing.B) {
	s := newStore(b)
	value := make([]byte, 100)
	put := &pb.PutRequest{Value: value}
	req := &pb.InternalRaftRequest{Put: put, Header: &pb.RequestHeader{}}
	var key []byte
	var index uint64
	b.ReportAllocs()
	for b.Loop() {
		index++
		key = fmt.Appendf(key[:0], "%08d", index*7919%99_999_989)
		put.Key = key
		if res := s.Apply(index, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
