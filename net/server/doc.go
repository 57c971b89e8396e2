// Package server is MetaStore's production shell around one core.Replica:
// the goroutine that drives it (Node) and etcd's v3 gRPC services (KV,
// Watch, Lease, Cluster, Maintenance, Auth) answering clientv3 and etcdctl
// with etcd's own messages and error codes.
//
// # Concurrency
//
// The replica is not safe for concurrent use. Node owns it on one goroutine;
// RPC handlers never touch it directly but submit closures with Node.Do (or
// wait for a result with Node.call), which run on that goroutine between
// two HandleReady rounds. The WAL write and fsync run on a second goroutine,
// the append stage, one job at a time: it touches only the job (the WAL),
// and the loop takes each job back with AppendDone. Requests queued while
// one job syncs go out in the next one: group commit falls out of the loop.
//
// Every waiting RPC is bounded by Config.RequestTimeout: a proposal lost in
// a leader change never calls back, and the client then gets
// rpctypes.ErrGRPCTimeout, as etcd answers.
//
// # Usage
//
//	node := server.NewNode(replica, server.NodeConfig{Incoming: tr.Incoming()})
//	srv, err := server.New(node, server.Config{...})
//	g := grpc.NewServer(srv.GRPCOptions()...)
//	srv.Register(g)
//	node.Start()
//	go g.Serve(lis)
//	...
//	g.GracefulStop(); srv.Close(); node.Stop()
package server
