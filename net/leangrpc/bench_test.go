package leangrpc_test

import (
	"context"
	"net"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"metastore/net/leangrpc"
)

// floorKV answers Put at once, as scripts/grpcfloor does.
type floorKV struct{ pb.UnimplementedKVServer }

var floorHeader = &pb.ResponseHeader{ClusterId: 1, MemberId: 1, Revision: 1, RaftTerm: 1}

func (floorKV) Put(context.Context, *pb.PutRequest) (*pb.PutResponse, error) {
	return &pb.PutResponse{Header: floorHeader}, nil
}

// BenchmarkFloorPut is a Put through each server to a handler that does
// nothing, client and server in this process: allocs/op and B/op compare
// the two servers (the grpc-go client's share is the same in both).
func BenchmarkFloorPut(b *testing.B) {
	servers := map[string]func(net.Listener) (stop func()){
		"grpc-go": func(l net.Listener) func() {
			g := grpc.NewServer(grpc.NumStreamWorkers(64))
			pb.RegisterKVServer(g, floorKV{})
			go g.Serve(l)
			return g.Stop
		},
		"lean": func(l net.Listener) func() {
			g := leangrpc.NewServer(leangrpc.Options{Workers: 64})
			pb.RegisterKVServer(g, floorKV{})
			go g.Serve(l)
			return g.Stop
		},
	}
	for _, name := range []string{"grpc-go", "lean"} {
		b.Run(name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			stop := servers[name](l)
			defer stop()
			cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer cc.Close()
			kv := pb.NewKVClient(cc)
			req := &pb.PutRequest{Key: []byte("key"), Value: make([]byte, 256)}
			if _, err := kv.Put(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := kv.Put(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
