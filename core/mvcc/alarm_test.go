package mvcc

import (
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func alarmReq(action pb.AlarmRequest_AlarmAction, member uint64, t pb.AlarmType) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: member, Alarm: t}}
}

func TestAlarmsAreStoredAndKeptAcrossReopenAndSnapshot(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	res := h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 7, pb.AlarmType_NOSPACE))
	if got := res.Resp.(*pb.AlarmResponse).Alarms; res.Err != nil || len(got) != 1 || got[0].MemberID != 7 {
		t.Fatalf("activate: %v %v", res.Resp, res.Err)
	}
	h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_NOSPACE))
	h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_NOSPACE)) // again: no change
	want := fmt.Sprint([]Alarm{{3, pb.AlarmType_NOSPACE}, {7, pb.AlarmType_NOSPACE}})
	if got := fmt.Sprint(h.s.Alarms()); got != want {
		t.Fatalf("alarms %s, want %s", got, want)
	}
	reopened, err := Open(h.s.eng)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(reopened.Alarms()); got != want {
		t.Fatalf("alarms after reopen %s, want %s", got, want)
	}
	data, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := newStore(t)
	if err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(restored.Alarms()); got != want || restored.Hash() != h.s.Hash() {
		t.Fatalf("alarms after restore %s (hash %x), want %s (hash %x)", got, restored.Hash(), want, h.s.Hash())
	}
	h.apply(alarmReq(pb.AlarmRequest_DEACTIVATE, 7, pb.AlarmType_NOSPACE))
	if got := fmt.Sprint(h.s.Alarms()); got != fmt.Sprint([]Alarm{{3, pb.AlarmType_NOSPACE}}) {
		t.Fatalf("alarms after one disarm %s", got)
	}
	if res := h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_CORRUPT)); !errors.Is(res.Err, ErrUnsupported) {
		t.Fatalf("activate CORRUPT: %v", res.Err)
	}
	if res := h.apply(alarmReq(pb.AlarmRequest_GET, 0, pb.AlarmType_NONE)); !errors.Is(res.Err, ErrUnsupported) {
		t.Fatalf("a proposed GET: %v", res.Err)
	}
}

func TestNoSpaceRefusesWhatAddsDataAndLetsTheRestRun(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	lease := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}}).Resp.(*pb.LeaseGrantResponse).ID
	h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_NOSPACE))
	rev := h.s.Rev()
	nestedPut := &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("n")}}}}}}}}}
	for name, req := range map[string]*pb.InternalRaftRequest{
		"put":             {Put: &pb.PutRequest{Key: []byte("b"), Value: []byte("2")}},
		"txn nested put":  {Txn: nestedPut},
		"lease grant":     {LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}},
		"put over a put":  {Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("3")}},
		"put with ignore": {Put: &pb.PutRequest{Key: []byte("a"), IgnoreValue: true}},
	} {
		if res := h.apply(req); !errors.Is(res.Err, ErrNoSpace) {
			t.Fatalf("%s under NOSPACE: %v", name, res.Err)
		}
	}
	if h.s.Rev() != rev {
		t.Fatalf("refused writes moved the revision %d -> %d", rev, h.s.Rev())
	}
	rangeTxn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}}}}
	for name, req := range map[string]*pb.InternalRaftRequest{
		"read-only txn": {Txn: rangeTxn},
		"lease revoke":  {LeaseRevoke: &pb.LeaseRevokeRequest{ID: lease}},
		"delete":        {DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}},
		"compaction":    {Compaction: &pb.CompactionRequest{Revision: 2}},
	} {
		if res := h.apply(req); res.Err != nil {
			t.Fatalf("%s under NOSPACE: %v", name, res.Err)
		}
	}
	h.apply(alarmReq(pb.AlarmRequest_DEACTIVATE, 1, pb.AlarmType_NOSPACE))
	h.put("b", "2")
}
