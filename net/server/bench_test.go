package server

import (
	"context"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// BenchmarkServerPut runs puts of 256-byte values over 10,000 keys through
// the KV service of a one-member server (below gRPC: the request is
// decoded already, the response not encoded), one at a time. Each waits
// for its own fsync, so ns/op is the disk's; allocs/op and B/op are the
// server's per write, from the service call through propose, raft, the
// WAL and apply to the answer.
func BenchmarkServerPut(b *testing.B) {
	benchServerWrite(b, func(key, value []byte) func(k *kvServer) error {
		req := &pb.PutRequest{Key: key, Value: value}
		return func(k *kvServer) error {
			_, err := k.Put(context.Background(), req)
			return err
		}
	})
}

// BenchmarkServerTxnPut is BenchmarkServerPut with each put sent as etcd's
// benchmark txn-put sends it: a txn with no compares and the put alone in
// its success branch.
func BenchmarkServerTxnPut(b *testing.B) {
	benchServerWrite(b, func(key, value []byte) func(k *kvServer) error {
		op := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: value}}}
		req := &pb.TxnRequest{Success: []*pb.RequestOp{op}}
		return func(k *kvServer) error {
			_, err := k.Txn(context.Background(), req)
			return err
		}
	})
}

// benchServerWrite calls the writes newWrite makes, one per key, made
// before the clock starts: the server may keep a request until it is
// applied, but never past its answer.
func benchServerWrite(b *testing.B, newWrite func(key, value []byte) func(k *kvServer) error) {
	m := startSingle(b)
	k := &kvServer{s: m.srv}
	writes := make([]func(k *kvServer) error, 10000)
	value := make([]byte, 256)
	for i := range writes {
		writes[i] = newWrite([]byte(fmt.Sprintf("key-%012d", i)), value)
		if err := writes[i](k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := writes[i%len(writes)](k); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
