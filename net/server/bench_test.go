package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"metastore/core"
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

// BenchmarkServerPutHandler is BenchmarkServerPut entered where a gRPC
// server enters it: the KV service's registered Put handler, given the
// request's bytes to decode and an interceptor (as the real server always
// has one), so allocs/op also counts the request's decoding and what the
// handler builds around the call.
func BenchmarkServerPutHandler(b *testing.B) {
	benchHandlerWrite(b, "Put", func(key, value []byte) proto.Message {
		return &pb.PutRequest{Key: key, Value: value}
	})
}

// BenchmarkServerTxnPutHandler is BenchmarkServerPutHandler for etcd
// benchmark's txn-put.
func BenchmarkServerTxnPutHandler(b *testing.B) {
	benchHandlerWrite(b, "Txn", func(key, value []byte) proto.Message {
		op := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: value}}}
		return &pb.TxnRequest{Success: []*pb.RequestOp{op}}
	})
}

// descRecorder is a grpc.ServiceRegistrar that keeps what registers on it.
type descRecorder map[string]struct {
	desc *grpc.ServiceDesc
	impl any
}

func (r descRecorder) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r[desc.ServiceName] = struct {
		desc *grpc.ServiceDesc
		impl any
	}{desc, impl}
}

func benchHandlerWrite(b *testing.B, method string, newReq func(key, value []byte) proto.Message) {
	m := startSingle(b)
	reg := descRecorder{}
	m.srv.Register(reg)
	kv := reg["etcdserverpb.KV"]
	var handler grpc.MethodHandler
	for _, md := range kv.desc.Methods {
		if md.MethodName == method {
			handler = md.Handler
		}
	}
	intercept := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if info.FullMethod != "/etcdserverpb.KV/"+method {
			b.Fatalf("FullMethod %q", info.FullMethod)
		}
		return h(ctx, req)
	}
	reqs := make([][]byte, 10000)
	value := make([]byte, 256)
	for i := range reqs {
		var err error
		if reqs[i], err = proto.Marshal(newReq([]byte(fmt.Sprintf("key-%012d", i)), value)); err != nil {
			b.Fatal(err)
		}
	}
	call := func(i int) {
		raw := reqs[i%len(reqs)]
		dec := func(v any) error { return UnmarshalRequest(raw, v.(proto.Message)) }
		if _, err := handler(kv.impl, context.Background(), dec, intercept); err != nil {
			b.Fatal(err)
		}
	}
	for i := range reqs {
		call(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		call(i)
		i++
	}
}

// BenchmarkNodeCall is a call through the node's loop that the loop answers
// at once, from many goroutines (as handlers wait on the replica): its
// queueing, the caller's wait and its wake-up.
func BenchmarkNodeCall(b *testing.B) {
	m := startSingle(b)
	start := func(_ *core.Replica, cb core.Callback) { cb(core.Result{}) }
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := m.node.call(ctx, 3*time.Second, start); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
