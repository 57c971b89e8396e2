package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The methods below are what the HTTP health checks (net/httpapi.Member)
// ask of the member; all are safe from HTTP goroutines.

// Alarms are the active alarms, as AlarmList reports them.
func (s *Server) Alarms() []*pb.AlarmMember { return s.alarms.list(0, pb.AlarmType_NONE) }

// Leader is the leader's ID as this member knows it, 0 for none.
func (s *Server) Leader() uint64 { return s.node.Status().Leader }

// IsLearner tells whether this member is a raft learner.
func (s *Server) IsLearner() bool { return s.node.Status().Learner }

// Range is the KV service's Range, called in process: no gRPC interceptor
// (authentication, learner checks) runs, as etcd's checks read as root.
func (s *Server) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return (&kvServer{s: s}).Range(withRoot(ctx), req)
}
