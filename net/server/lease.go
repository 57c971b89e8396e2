package server

import (
	"context"
	"errors"
	"io"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"metastore/core"
	"metastore/core/mvcc"
)

// leaseServer is etcd's Lease service. Grant and Revoke are proposals;
// KeepAlive and TimeToLive need the leader's clock, so a follower forwards
// them to the leader's client URL.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

// LeaseGrant raises a TTL below MinLeaseTTL before proposing it, so the
// raised TTL is what every replica records and what the answer reports.
func (l *leaseServer) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if minTTL := int64(math.Ceil(l.s.cfg.MinLeaseTTL.Seconds())); req.TTL < minTTL {
		req = &pb.LeaseGrantRequest{ID: req.ID, TTL: minTTL}
	}
	resp, err := propose[*pb.LeaseGrantResponse](ctx, l.s, &pb.InternalRaftRequest{LeaseGrant: req})
	if err != nil {
		return nil, err
	}
	resp.Header = l.s.header(resp.Header)
	return resp, nil
}

func (l *leaseServer) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := propose[*pb.LeaseRevokeResponse](ctx, l.s, &pb.InternalRaftRequest{LeaseRevoke: req})
	if err != nil {
		return nil, err
	}
	resp.Header = l.s.header(resp.Header)
	return resp, nil
}

func (l *leaseServer) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if req.Keys {
		if err := l.s.checkLeaseKeysRead(ctx, []int64{req.ID}); err != nil {
			return nil, err
		}
	}
	res, err := l.s.node.call(ctx, l.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
		r.LeaseTimeToLive(req, cb)
	})
	if errors.Is(err, core.ErrNotLeader) && !isForwarded(ctx) {
		_, conn, ferr := l.s.fwd.leader()
		if ferr != nil {
			return nil, ferr
		}
		return pb.NewLeaseClient(conn).LeaseTimeToLive(forwardedContext(ctx), req)
	}
	if err != nil {
		return nil, l.s.toGRPC(err)
	}
	resp := res.Resp.(*pb.LeaseTimeToLiveResponse)
	resp.Header = l.s.header(resp.Header)
	return resp, nil
}

// LeaseLeases lists the leases this member has applied.
func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	if err := l.s.checkLeaseKeysRead(ctx, nil); err != nil {
		return nil, err
	}
	var leases []*pb.LeaseStatus
	err := l.s.node.exec(ctx, l.s.cfg.RequestTimeout, func(r *core.Replica) {
		for _, li := range r.Store().Leases() {
			leases = append(leases, &pb.LeaseStatus{ID: li.ID})
		}
	})
	if err != nil {
		return nil, l.s.toGRPC(err)
	}
	return &pb.LeaseLeasesResponse{Header: l.s.header(nil), Leases: leases}, nil
}

// LeaseKeepAlive answers each renewal in order. As etcd does, an unknown or
// expired lease is answered TTL 0, not an error.
func (l *leaseServer) LeaseKeepAlive(stream grpc.BidiStreamingServer[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	ctx := stream.Context()
	fw := keepAliveForward{s: l.s}
	defer fw.close()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := l.renew(ctx, req, &fw)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (l *leaseServer) renew(ctx context.Context, req *pb.LeaseKeepAliveRequest, fw *keepAliveForward) (*pb.LeaseKeepAliveResponse, error) {
	res, err := l.s.node.call(ctx, l.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
		r.LeaseKeepAlive(req.ID, cb)
	})
	switch {
	case errors.Is(err, core.ErrNotLeader) && !isForwarded(ctx):
		return fw.renew(ctx, req)
	case errors.Is(err, mvcc.ErrLeaseNotFound) || errors.Is(err, core.ErrLeaseExpired):
		return &pb.LeaseKeepAliveResponse{Header: l.s.header(nil), ID: req.ID, TTL: 0}, nil
	case err != nil:
		return nil, l.s.toGRPC(err)
	}
	resp := res.Resp.(*pb.LeaseKeepAliveResponse)
	resp.Header = l.s.header(resp.Header)
	return resp, nil
}

// keepAliveForward is one client stream's forwarding stream to the leader,
// opened on first need and reopened when the leader changes.
type keepAliveForward struct {
	s      *Server
	leader uint64
	stream grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]
	cancel context.CancelFunc
}

func (f *keepAliveForward) renew(ctx context.Context, req *pb.LeaseKeepAliveRequest) (*pb.LeaseKeepAliveResponse, error) {
	lead, conn, err := f.s.fwd.leader()
	if err != nil {
		return nil, err
	}
	if f.stream == nil || f.leader != lead {
		f.close()
		sctx, cancel := context.WithCancel(forwardedContext(ctx))
		st, err := pb.NewLeaseClient(conn).LeaseKeepAlive(sctx)
		if err != nil {
			cancel()
			return nil, err
		}
		f.stream, f.cancel, f.leader = st, cancel, lead
	}
	if err := f.stream.Send(req); err != nil {
		f.close()
		return nil, err
	}
	resp, err := f.stream.Recv()
	if err != nil {
		f.close()
		return nil, err
	}
	return resp, nil
}

func (f *keepAliveForward) close() {
	if f.cancel != nil {
		f.cancel()
	}
	f.stream, f.cancel, f.leader = nil, nil, 0
}
