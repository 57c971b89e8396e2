package mvcc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Alarm is one raised alarm: the member that raised it and its type. Alarms
// are replicated state (raised and cleared through raft, kept in the engine
// under a/<member:8><type:4>), so every member refuses the same writes.
type Alarm struct {
	Member uint64
	Type   pb.AlarmType
}

func alarmKey(a Alarm) []byte {
	k := idKey(prefixAlarm, a.Member)
	return binary.BigEndian.AppendUint32(k, uint32(a.Type))
}

// applyAlarm raises or clears an alarm. As etcd's, it answers the alarm it
// changed: activating an active alarm answers it again, clearing one that
// is not active answers none. Only NOSPACE can be raised (etcd raises
// CORRUPT from its corruption checker, which MetaStore does not have).
func (s *Store) applyAlarm(r *pb.AlarmRequest) Result {
	a := Alarm{Member: r.MemberID, Type: r.Alarm}
	resp := &pb.AlarmResponse{Header: header(s.rev)}
	switch r.Action {
	case pb.AlarmRequest_ACTIVATE:
		if a.Type == pb.AlarmType_NONE {
			return Result{Resp: resp}
		}
		if a.Type != pb.AlarmType_NOSPACE {
			return Result{Err: ErrUnsupported}
		}
		if _, ok := s.alarms[a]; !ok {
			s.batch.Set(alarmKey(a), []byte{1})
			s.alarms[a] = struct{}{}
		}
	case pb.AlarmRequest_DEACTIVATE:
		if _, ok := s.alarms[a]; !ok {
			return Result{Resp: resp}
		}
		s.batch.Delete(alarmKey(a))
		delete(s.alarms, a)
	default:
		return Result{Err: ErrUnsupported} // GET is answered locally, never proposed
	}
	resp.Alarms = []*pb.AlarmMember{{MemberID: a.Member, Alarm: a.Type}}
	return Result{Resp: resp}
}

// Alarms returns the active alarms sorted by member, then type; nil when
// there are none.
func (s *Store) Alarms() []Alarm {
	if len(s.alarms) == 0 {
		return nil
	}
	out := make([]Alarm, 0, len(s.alarms))
	for a := range s.alarms {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Alarm) int {
		return cmp.Or(cmp.Compare(a.Member, b.Member), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// spaceExhausted reports whether any member raised NOSPACE.
func (s *Store) spaceExhausted() bool {
	for a := range s.alarms {
		if a.Type == pb.AlarmType_NOSPACE {
			return true
		}
	}
	return false
}

// addsData reports whether req would grow the store, which etcd refuses
// while NOSPACE is raised: puts (also inside txns, any branch) and lease
// grants. Deletes, compactions and revokes still run: they free space.
func addsData(req *pb.InternalRaftRequest) bool {
	switch {
	case req.Put != nil, req.LeaseGrant != nil:
		return true
	case req.Txn != nil:
		return txnHasPut(req.Txn)
	}
	return false
}

func txnHasPut(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut:
				return true
			case *pb.RequestOp_RequestTxn:
				if txnHasPut(r.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}

func (s *Store) loadAlarms() error {
	it := s.eng.NewIter(prefixAlarm, prefixEnd(prefixAlarm))
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(prefixAlarm)+12 {
			return fmt.Errorf("mvcc: load: corrupt alarm record %q", k)
		}
		a := Alarm{
			Member: binary.BigEndian.Uint64(k[len(prefixAlarm):]),
			Type:   pb.AlarmType(binary.BigEndian.Uint32(k[len(prefixAlarm)+8:])),
		}
		s.alarms[a] = struct{}{}
	}
	return nil
}
