package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

const snapshotMethod = "/etcdserverpb.Maintenance/Snapshot"

// learnerSupported is etcd's list of what a learner answers: Status and
// serializable Range (unary), Snapshot (streams). The rest gets
// ErrGRPCNotSupportedForLearner, which tells clientv3 to try elsewhere.
func learnerSupported(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.Serializable
	}
	return false
}

// UnaryInterceptor refuses what a learner may not answer, as etcd does,
// then checks the auth gate of the call (adminUnary): one interceptor, not
// two chained, since gRPC builds a closure per request for each link.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if s.node.lastStatus().Learner && !learnerSupported(req) {
			return nil, rpctypes.ErrGRPCNotSupportedForLearner
		}
		return s.adminUnary(ctx, req, info, handler)
	}
}

// StreamInterceptor refuses every stream but Snapshot on a learner.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if s.node.Status().Learner && info.FullMethod != snapshotMethod {
			return rpctypes.ErrGRPCNotSupportedForLearner
		}
		return handler(srv, ss)
	}
}
