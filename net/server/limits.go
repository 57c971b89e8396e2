package server

import (
	"cmp"
	"slices"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// checkRequest enforces etcd's limits on a proposal: its encoded size
// (MaxRequestBytes) and, for requests that add data, the space quota.
func (s *Server) checkRequest(req *pb.InternalRaftRequest) error {
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
		s.alarms.activate(s.node.ID(), pb.AlarmType_NOSPACE)
		s.cfg.Logger.Warn("space quota exceeded; NOSPACE alarm raised",
			"quota-bytes", s.cfg.QuotaBackendBytes, "db-size-bytes", s.cfg.DBSize())
		return errNoSpace
	}
	return nil
}

// proposedSize is req's encoded size as the replica will propose it: with
// a request header holding a 64-bit ID if it has none yet. etcd applies its
// limit to the marshaled raft request, header included, so without this a
// request a few bytes under the limit would pass here and fail in etcd.
func proposedSize(req *pb.InternalRaftRequest) int {
	n := proto.Size(req)
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
		return proto.Size(req.Put)
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
				branch += proto.Size(r.RequestPut)
			case *pb.RequestOp_RequestTxn:
				branch += txnCost(r.RequestTxn)
			}
		}
		cost = max(cost, branch)
	}
	return cost
}

// alarms is this member's alarm list. NB: alarms are local, not
// replicated (the state machine has no alarm table yet): each member raises
// NOSPACE from its own store size, and disarming clears it on the member
// that answers the request. Members hold the same data, so their sizes and
// alarms agree closely.
type alarms struct {
	mu  sync.Mutex
	set map[alarmKey]struct{}
}

type alarmKey struct {
	member uint64
	alarm  pb.AlarmType
}

func (a *alarms) activate(member uint64, t pb.AlarmType) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.set == nil {
		a.set = make(map[alarmKey]struct{})
	}
	a.set[alarmKey{member, t}] = struct{}{}
}

func (a *alarms) deactivate(member uint64, t pb.AlarmType) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := alarmKey{member, t}
	_, ok := a.set[k]
	delete(a.set, k)
	return ok
}

func (a *alarms) has(t pb.AlarmType) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.set {
		if k.alarm == t {
			return true
		}
	}
	return false
}

// list returns the alarms sorted by member, then type; filtered by member
// and type unless they are 0 and NONE.
func (a *alarms) list(member uint64, t pb.AlarmType) []*pb.AlarmMember {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*pb.AlarmMember
	for k := range a.set {
		if (member == 0 || k.member == member) && (t == pb.AlarmType_NONE || k.alarm == t) {
			out = append(out, &pb.AlarmMember{MemberID: k.member, Alarm: k.alarm})
		}
	}
	sortAlarms(out)
	return out
}

func sortAlarms(as []*pb.AlarmMember) {
	slices.SortFunc(as, func(a, b *pb.AlarmMember) int {
		if c := cmp.Compare(a.MemberID, b.MemberID); c != 0 {
			return c
		}
		return cmp.Compare(a.Alarm, b.Alarm)
	})
}
