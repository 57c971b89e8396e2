package server

import (
	"context"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"metastore/core"
	"metastore/core/engine"
	"metastore/core/mvcc"
)

// maintenanceServer is etcd's Maintenance service. Downgrade is left
// Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := m.s.node.Status()
	size := m.s.cfg.DBSize()
	resp := &pb.StatusResponse{
		Header:           m.s.header(nil),
		Version:          Version,
		DbSize:           size,
		DbSizeInUse:      size,
		Leader:           st.Leader,
		RaftIndex:        st.Commit,
		RaftTerm:         st.Term,
		RaftAppliedIndex: st.Applied,
		IsLearner:        st.Learner,
		DbSizeQuota:      max(m.s.cfg.QuotaBackendBytes, 0),
		DowngradeInfo:    &pb.DowngradeInfo{},
	}
	if st.Leader == 0 {
		resp.Errors = append(resp.Errors, "etcdserver: no leader")
	}
	for _, a := range m.s.alarms.list(0, pb.AlarmType_NONE) {
		resp.Errors = append(resp.Errors, alarmString(a))
	}
	return resp, nil
}

// alarmString is etcd's AlarmMember.String form.
func alarmString(a *pb.AlarmMember) string {
	return "memberID:" + uitoa(a.MemberID) + " alarm:" + a.Alarm.String() + " "
}

func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	resp := &pb.HashResponse{}
	err := m.s.node.exec(ctx, m.s.cfg.RequestTimeout, func(r *core.Replica) {
		resp.Hash = r.Store().Hash()
		resp.Header = &pb.ResponseHeader{Revision: r.Store().Rev()}
	})
	if err != nil {
		return nil, m.s.toGRPC(err)
	}
	resp.Header = m.s.header(resp.Header)
	return resp, nil
}

func (m *maintenanceServer) HashKV(ctx context.Context, req *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	resp := &pb.HashKVResponse{}
	var herr error
	err := m.s.node.exec(ctx, m.s.cfg.RequestTimeout, func(r *core.Replica) {
		h, rev, compact, err := r.Store().HashKV(req.Revision)
		resp.Hash, resp.HashRevision, resp.CompactRevision, herr = h, rev, compact, err
		resp.Header = &pb.ResponseHeader{Revision: r.Store().Rev()}
	})
	if err == nil {
		err = herr
	}
	if err != nil {
		return nil, m.s.toGRPC(err)
	}
	resp.Header = m.s.header(resp.Header)
	return resp, nil
}

// Defragment runs the engine's full compaction when it has one (RocksDB:
// deleted and overwritten versions leave its files); the memory engine does
// not fragment like bbolt, so there it has nothing to do.
func (m *maintenanceServer) Defragment(context.Context, *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if f := m.s.cfg.Defragment; f != nil {
		if err := f(); err != nil {
			return nil, status.Error(codes.Internal, "defragment: "+err.Error())
		}
	}
	return &pb.DefragmentResponse{Header: m.s.header(nil)}, nil
}

// Alarm lists the cluster's alarms from this member's applied state, or
// raises or clears one through raft, as etcd does: the change is applied on
// every member (see alarms).
func (m *maintenanceServer) Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if req.Action == pb.AlarmRequest_GET {
		// Read on the loop, not from the last round's status: an alarm
		// this member just applied (a write refused for NOSPACE) is listed.
		var all []mvcc.Alarm
		err := m.s.node.exec(ctx, m.s.cfg.RequestTimeout, func(r *core.Replica) { all = r.Store().Alarms() })
		if err != nil {
			return nil, m.s.toGRPC(err)
		}
		return &pb.AlarmResponse{Header: m.s.header(nil), Alarms: filterAlarms(all, req.MemberID, req.Alarm)}, nil
	}
	resp, err := propose[*pb.AlarmResponse](ctx, m.s, &pb.InternalRaftRequest{Alarm: req})
	if err != nil {
		return nil, err
	}
	resp.Header = m.s.header(resp.Header)
	return resp, nil
}

// MoveLeader hands leadership to a voter and waits until it leads.
func (m *maintenanceServer) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	st := m.s.node.Status()
	if st.Leader != st.ID {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	if req.TargetID == st.ID {
		return &pb.MoveLeaderResponse{Header: m.s.header(nil)}, nil
	}
	if !slices.Contains(st.Voters, req.TargetID) {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	if err := m.s.node.Do(ctx, func(r *core.Replica) { r.TransferLeader(req.TargetID) }); err != nil {
		return nil, m.s.toGRPC(err)
	}
	deadline := time.NewTimer(m.s.cfg.RequestTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(m.s.node.cfg.TickInterval)
	defer poll.Stop()
	for m.s.node.Status().Leader != req.TargetID {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, rpctypes.ErrGRPCTimeout
		case <-m.s.node.Done():
			return nil, rpctypes.ErrGRPCStopped
		case <-poll.C:
		}
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(nil)}, nil
}

// Snapshot streams the store's snapshot in etcd's framing (see
// snapshotfile.go): chunks, then the sha256 of all of them. The loop only
// freezes a view of the engine; serializing it runs on this RPC's
// goroutine, in pieces.
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream grpc.ServerStreamingServer[pb.SnapshotResponse]) error {
	var view engine.Snapshot
	err := m.s.node.exec(stream.Context(), m.s.cfg.RequestTimeout, func(r *core.Replica) {
		view = r.EngineSnapshot()
	})
	if err != nil {
		return m.s.toGRPC(err)
	}
	defer view.Close()
	return streamSnapshot(stream, view, m.s.header(nil))
}
