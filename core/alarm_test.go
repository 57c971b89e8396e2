package core_test

import (
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
	"metastore/core/mvcc"
)

func TestNoSpaceAlarmReachesEveryMemberAndSurvivesRestartAndSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *core.Config) { cfg.SnapshotEntries = 8; cfg.CatchUpEntries = 2 })
	lead := c.leader()
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	alarm := func(at uint64, action pb.AlarmRequest_AlarmAction) core.Result {
		return c.propose(at, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{
			Action: action, MemberID: follower, Alarm: pb.AlarmType_NOSPACE}})
	}
	put := func(at uint64, k string) error {
		return c.propose(at, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte("v")}}).Err
	}
	if err := put(lead, "before"); err != nil {
		t.Fatal(err)
	}
	res := alarm(follower, pb.AlarmRequest_ACTIVATE)
	if got := res.Resp.(*pb.AlarmResponse).Alarms; res.Err != nil || len(got) != 1 || got[0].MemberID != follower {
		t.Fatalf("activate: %v %v", res.Resp, res.Err)
	}
	want := fmt.Sprint([]mvcc.Alarm{{Member: follower, Type: pb.AlarmType_NOSPACE}})
	for _, id := range c.ids {
		if got := fmt.Sprint(c.nodes[id].Status().Alarms); got != want {
			t.Fatalf("replica %d alarms %s, want %s", id, got, want)
		}
	}
	// Every member refuses what adds data, whoever raised the alarm.
	for _, id := range c.ids {
		if err := put(id, "refused"); !errors.Is(err, mvcc.ErrNoSpace) {
			t.Fatalf("put on %d under NOSPACE: %v", id, err)
		}
	}
	txn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
		RequestPut: &pb.PutRequest{Key: []byte("t"), Value: []byte("v")}}}}}
	if err := c.propose(lead, &pb.InternalRaftRequest{Txn: txn}).Err; !errors.Is(err, mvcc.ErrNoSpace) {
		t.Fatalf("txn with a put under NOSPACE: %v", err)
	}
	if err := c.propose(lead, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}}).Err; !errors.Is(err, mvcc.ErrNoSpace) {
		t.Fatalf("lease grant under NOSPACE: %v", err)
	}
	// Deletes still run: they free space.
	if err := c.propose(lead, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("before")}}).Err; err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	// Enough entries for a snapshot and log compaction, then a crash: the
	// restarted member recovers the alarm from the snapshot.
	for range 10 {
		c.propose(lead, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("x")}})
	}
	if c.nodes[follower].Status().SnapshotIdx == 0 {
		t.Fatal("no snapshot was taken")
	}
	c.crash(follower)
	c.start(follower)
	c.tick(3)
	if got := fmt.Sprint(c.nodes[follower].Status().Alarms); got != want {
		t.Fatalf("after restart alarms %s, want %s", got, want)
	}
	c.hashesAgree()

	// NB: on the leader: the restarted follower's request IDs come from
	// the same seeded source again, and de-duplication would swallow them.
	res = alarm(lead, pb.AlarmRequest_DEACTIVATE)
	if got := res.Resp.(*pb.AlarmResponse).Alarms; res.Err != nil || len(got) != 1 {
		t.Fatalf("deactivate: %v %v", res.Resp, res.Err)
	}
	for _, id := range c.ids {
		if got := c.nodes[id].Status().Alarms; got != nil {
			t.Fatalf("replica %d alarms after disarm %v", id, got)
		}
	}
	if err := put(lead, "after"); err != nil {
		t.Fatalf("put after disarm: %v", err)
	}
	// Clearing an alarm that is not raised changes and answers nothing.
	if got := alarm(lead, pb.AlarmRequest_DEACTIVATE).Resp.(*pb.AlarmResponse).Alarms; len(got) != 0 {
		t.Fatalf("second deactivate answered %v", got)
	}
}
