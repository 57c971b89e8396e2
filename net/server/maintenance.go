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

// Alarm lists, raises and clears this member's alarms (see alarms: they
// are not replicated).
func (m *maintenanceServer) Alarm(_ context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp := &pb.AlarmResponse{}
	switch req.Action {
	case pb.AlarmRequest_GET:
		resp.Alarms = m.s.alarms.list(req.MemberID, req.Alarm)
	case pb.AlarmRequest_ACTIVATE:
		if req.Alarm == pb.AlarmType_NONE {
			break
		}
		m.s.alarms.activate(req.MemberID, req.Alarm)
		resp.Alarms = []*pb.AlarmMember{{MemberID: req.MemberID, Alarm: req.Alarm}}
	case pb.AlarmRequest_DEACTIVATE:
		if m.s.alarms.deactivate(req.MemberID, req.Alarm) {
			resp.Alarms = []*pb.AlarmMember{{MemberID: req.MemberID, Alarm: req.Alarm}}
		}
	}
	resp.Header = m.s.header(nil)
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
// snapshotfile.go): chunks, then the sha256 of all of them.
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream grpc.ServerStreamingServer[pb.SnapshotResponse]) error {
	var data []byte
	var serr error
	err := m.s.node.exec(stream.Context(), m.s.cfg.RequestTimeout, func(r *core.Replica) {
		data, serr = r.Store().Snapshot()
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return m.s.toGRPC(err)
	}
	return sendSnapshot(stream, EncodeSnapshotFile(data), m.s.header(nil))
}
