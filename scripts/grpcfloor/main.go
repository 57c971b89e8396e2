// Command grpcfloor answers etcd's KV Put, Range, Txn and DeleteRange and
// Maintenance Status at once, with no work behind them, over grpc-go set up
// as MetaStore's client port is (the same stream workers). Loading it with
// `metastore bench` and reading its CPU from /proc gives the CPU that the
// gRPC layer alone costs per request: the floor under any server built on
// grpc-go, and so the best throughput ratio such a server could reach
// against etcd on a machine where the server and the load tool share the
// cores.
//
// Usage (from the repository root):
//
//	go build -o /tmp/grpcfloor ./scripts/grpcfloor && /tmp/grpcfloor -listen=127.0.0.1:23999 &
//	P=$(pgrep -f /tmp/grpcfloor); cat /proc/$P/stat  # fields 14+15: utime+stime in ticks
//	metastore bench put --endpoints=127.0.0.1:23999 --clients=50 --conns=10 --total=200000 --val-size=256
package main

import (
	"context"
	"flag"
	"log"
	"net"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"metastore/net/server"
)

// header is what every answer carries, as a real server's would.
var header = &pb.ResponseHeader{ClusterId: 1, MemberId: 1, Revision: 1, RaftTerm: 1}

type kv struct{ pb.UnimplementedKVServer }

func (kv) Put(context.Context, *pb.PutRequest) (*pb.PutResponse, error) {
	return &pb.PutResponse{Header: header}, nil
}

func (kv) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	return &pb.RangeResponse{Header: header}, nil
}

func (kv) Txn(context.Context, *pb.TxnRequest) (*pb.TxnResponse, error) {
	return &pb.TxnResponse{Header: header, Succeeded: true}, nil
}

func (kv) DeleteRange(context.Context, *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return &pb.DeleteRangeResponse{Header: header}, nil
}

// maintenance answers Status, which `metastore bench` calls once per
// connection to check it reached a server.
type maintenance struct {
	pb.UnimplementedMaintenanceServer
}

func (maintenance) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	return &pb.StatusResponse{Header: header, Version: "3.7.3", Leader: 1}, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:23999", "address to serve gRPC on")
	flag.Parse()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer(server.WorkerOptions()...)
	pb.RegisterKVServer(s, kv{})
	pb.RegisterMaintenanceServer(s, maintenance{})
	log.Printf("grpcfloor: serving on %s", l.Addr())
	log.Fatal(s.Serve(l))
}
