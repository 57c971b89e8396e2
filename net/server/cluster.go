package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net/url"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

// maxLearners is etcd's default --max-learners.
const maxLearners = 1

// clusterServer is etcd's Cluster service over raft configuration changes;
// member attributes travel in the changes' Context (see Attributes).
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) MemberList(ctx context.Context, req *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	var ms []memberInfo
	_, err := c.s.node.call(ctx, c.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
		if !req.Linearizable {
			ms = readMembers(r)
			cb(core.Result{})
			return
		}
		r.ReadBarrier(func(err error) {
			if err == nil {
				ms = readMembers(r)
			}
			cb(core.Result{Err: err})
		})
	})
	if err != nil {
		return nil, c.s.toGRPC(err)
	}
	return &pb.MemberListResponse{Header: c.s.header(nil), Members: membersProto(ms)}, nil
}

func (c *clusterServer) MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := checkPeerURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	ms, err := c.members(ctx)
	if err != nil {
		return nil, err
	}
	if conflict(ms, 0, req.PeerURLs) {
		return nil, rpctypes.ErrGRPCPeerURLExist
	}
	if req.IsLearner && countLearners(ms) >= maxLearners {
		return nil, rpctypes.ErrGRPCTooManyLearners
	}
	id := JoinMemberID(req.PeerURLs, c.s.cfg.ClusterToken)
	if find(ms, id) >= 0 {
		return nil, rpctypes.ErrGRPCMemberExist
	}
	typ := raftpb.ConfChangeAddNode
	if req.IsLearner {
		typ = raftpb.ConfChangeAddLearnerNode
	}
	attr := Attributes{PeerURLs: req.PeerURLs}
	after, err := c.change(ctx, &raftpb.ConfChange{Type: typ.Enum(), NodeId: &id, Context: attr.encode()})
	if err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{
		Header:  c.s.header(nil),
		Member:  &pb.Member{ID: id, PeerURLs: req.PeerURLs, IsLearner: req.IsLearner},
		Members: membersProto(after),
	}, nil
}

func (c *clusterServer) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	ms, err := c.members(ctx)
	if err != nil {
		return nil, err
	}
	if find(ms, req.ID) < 0 {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	after, err := c.change(ctx, &raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: &req.ID})
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: c.s.header(nil), Members: membersProto(after)}, nil
}

func (c *clusterServer) MemberUpdate(ctx context.Context, req *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if err := checkPeerURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	ms, err := c.members(ctx)
	if err != nil {
		return nil, err
	}
	i := find(ms, req.ID)
	if i < 0 {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	if conflict(ms, req.ID, req.PeerURLs) {
		return nil, rpctypes.ErrGRPCPeerURLExist
	}
	attr := ms[i].Attr
	attr.PeerURLs = req.PeerURLs
	after, err := c.change(ctx, &raftpb.ConfChange{Type: raftpb.ConfChangeUpdateNode.Enum(), NodeId: &req.ID, Context: attr.encode()})
	if err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: c.s.header(nil), Members: membersProto(after)}, nil
}

// MemberPromote makes a learner a voter once it has caught up: its applied
// index (asked over its client URL) must reach 90% of this member's commit
// index, etcd's readiness bar.
func (c *clusterServer) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	ms, err := c.members(ctx)
	if err != nil {
		return nil, err
	}
	i := find(ms, req.ID)
	switch {
	case i < 0:
		return nil, rpctypes.ErrGRPCMemberNotFound
	case !ms[i].Learner:
		return nil, rpctypes.ErrGRPCMemberNotLearner
	}
	if !c.learnerReady(ctx, ms[i]) {
		return nil, rpctypes.ErrGRPCLearnerNotReady
	}
	after, err := c.change(ctx, &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: &req.ID, Context: ms[i].Attr.encode()})
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: c.s.header(nil), Members: membersProto(after)}, nil
}

func (c *clusterServer) learnerReady(ctx context.Context, m memberInfo) bool {
	if len(m.Attr.ClientURLs) == 0 {
		return false // never started, or not published yet
	}
	conn, err := c.s.fwd.conn(m.Attr.ClientURLs[0])
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(withCallerToken(ctx), c.s.cfg.RequestTimeout)
	defer cancel()
	st, err := pb.NewMaintenanceClient(conn).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return false
	}
	commit := c.s.node.Status().Commit
	return st.RaftAppliedIndex*10 >= commit*9
}

// members reads the member table on the loop goroutine.
func (c *clusterServer) members(ctx context.Context) ([]memberInfo, error) {
	var ms []memberInfo
	err := c.s.node.exec(ctx, c.s.cfg.RequestTimeout, func(r *core.Replica) { ms = readMembers(r) })
	return ms, c.s.toGRPC(err)
}

// change proposes a configuration change and returns the member table as
// of its apply; the transport follows at once.
func (c *clusterServer) change(ctx context.Context, cc *raftpb.ConfChange) ([]memberInfo, error) {
	var after []memberInfo
	_, err := c.s.node.call(ctx, c.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
		r.ProposeConfChange(cc, func(res core.Result) {
			if res.Err == nil {
				after = readMembers(r)
			}
			cb(res)
		})
	})
	if err != nil {
		return nil, c.s.toGRPC(err)
	}
	c.s.members.reconcile(after)
	return after, nil
}

func checkPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}

func find(ms []memberInfo, id uint64) int {
	return slices.IndexFunc(ms, func(m memberInfo) bool { return m.ID == id })
}

// conflict reports whether a member other than except uses one of urls.
func conflict(ms []memberInfo, except uint64, urls []string) bool {
	for _, m := range ms {
		if m.ID == except {
			continue
		}
		for _, u := range m.Attr.PeerURLs {
			if slices.Contains(urls, u) {
				return true
			}
		}
	}
	return false
}

func countLearners(ms []memberInfo) int {
	n := 0
	for _, m := range ms {
		if m.Learner {
			n++
		}
	}
	return n
}

// JoinMemberID is the ID MemberAdd gives a member with these peer URLs in
// the cluster of this token. etcd mixes the time in and has the new member
// look itself up in the cluster; here the new member derives the same ID
// from its --initial-advertise-peer-urls and --initial-cluster-token. The
// name is not part of it: MemberAddRequest does not carry one. The ID is
// SHA-256 over "join", each sorted URL and the token (NUL-separated),
// first 8 bytes big-endian, never 0.
func JoinMemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	h := sha256.New()
	h.Write([]byte("join\x00"))
	for _, u := range urls {
		h.Write([]byte(u))
		h.Write([]byte{0})
	}
	h.Write([]byte(token))
	id := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	return max(id, 1)
}
