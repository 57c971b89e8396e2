package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
	"metastore/core/mvcc"
)

// checkRequest enforces etcd's limits on a proposal: its encoded size
// (MaxRequestBytes) and, for requests that add data, the space quota. As
// etcd's quota check does, a request that would exceed the quota raises
// NOSPACE through raft before it is refused, so every member refuses
// writes from then on (see alarms).
func (s *Server) checkRequest(ctx context.Context, req *pb.InternalRaftRequest) error {
	if proposedSize(req) > s.cfg.MaxRequestBytes {
		return errTooLarge
	}
	cost := quotaCost(req)
	if cost == 0 || s.cfg.QuotaBackendBytes < 0 {
		return nil
	}
	if s.alarms.has(pb.AlarmType_NOSPACE) {
		return errNoSpace
	}
	if s.cfg.DBSize()+int64(cost) > s.cfg.QuotaBackendBytes {
		s.cfg.Logger.Warn("space quota exceeded; raising the NOSPACE alarm",
			"quota-bytes", s.cfg.QuotaBackendBytes, "db-size-bytes", s.cfg.DBSize())
		raise := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: s.node.ID(), Alarm: pb.AlarmType_NOSPACE}
		if _, err := propose[*pb.AlarmResponse](ctx, s, &pb.InternalRaftRequest{Alarm: raise}); err != nil {
			s.cfg.Logger.Warn("raising the NOSPACE alarm", "err", err)
		}
		return errNoSpace
	}
	return nil
}

// proposedSize is req's encoded size as the replica will propose it: with
// a request header holding a 64-bit ID if it has none yet. etcd applies its
// limit to the marshaled raft request, header included, so without this a
// request a few bytes under the limit would pass here and fail in etcd.
func proposedSize(req *pb.InternalRaftRequest) int {
	n := core.RequestSize(req)
	if req.GetHeader().GetID() == 0 {
		n += 1 + 10 // the ID's field tag and at most 10 varint bytes
		if req.Header == nil {
			n += 2 + 1 // field 100's tag and the header's 1-byte length
		}
	}
	return n
}

// quotaCost estimates the bytes a request adds, as etcd's quota does: puts
// (also inside txns) and lease grants cost; deletes and compactions free.
func quotaCost(req *pb.InternalRaftRequest) int {
	switch {
	case req.Put != nil:
		return core.PutRequestSize(req.Put)
	case req.Txn != nil:
		return txnCost(req.Txn)
	case req.LeaseGrant != nil:
		return proto.Size(req.LeaseGrant)
	}
	return 0
}

func txnCost(t *pb.TxnRequest) int {
	cost := 0
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		branch := 0
		for _, op := range ops {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut:
				branch += core.PutRequestSize(r.RequestPut)
			case *pb.RequestOp_RequestTxn:
				branch += txnCost(r.RequestTxn)
			}
		}
		cost = max(cost, branch)
	}
	return cost
}

// alarms reads the cluster's alarm list, which is replicated state: raised
// and cleared through raft (InternalRaftRequest.Alarm), applied by every
// member and kept in its store, so it survives restarts and snapshots. The
// list read is this member's applied one, as of the loop's last round.
type alarms struct{ node *Node }

func (a alarms) has(t pb.AlarmType) bool {
	for _, al := range a.node.lastStatus().Alarms {
		if al.Type == t {
			return true
		}
	}
	return false
}

// list returns the alarms sorted by member, then type; filtered by member
// and type unless they are 0 and NONE.
func (a alarms) list(member uint64, t pb.AlarmType) []*pb.AlarmMember {
	return filterAlarms(a.node.Status().Alarms, member, t)
}

func filterAlarms(all []mvcc.Alarm, member uint64, t pb.AlarmType) []*pb.AlarmMember {
	var out []*pb.AlarmMember
	for _, al := range all {
		if (member == 0 || al.Member == member) && (t == pb.AlarmType_NONE || al.Type == t) {
			out = append(out, &pb.AlarmMember{MemberID: al.Member, Alarm: al.Type})
		}
	}
	return out
}
