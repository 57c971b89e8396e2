package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/core"
)

// TestNoSpaceAlarmIsReplicated: one member with a small quota raises NOSPACE;
// the members with room refuse writes too, list the alarm, and a disarm on
// any member lifts it everywhere — etcd's alarms, not per-member ones.
func TestNoSpaceAlarmIsReplicated(t *testing.T) {
	ms := make([]*member, 3)
	peers := make(map[uint64]string)
	var ids []uint64
	for i := range ms {
		ms[i] = newMember(t, uint64(i+1))
		peers[ms[i].id] = ms[i].peerURL()
		ids = append(ids, ms[i].id)
	}
	for i, m := range ms {
		quota := func(c *Config) {
			if i == 0 {
				c.QuotaBackendBytes = 64 << 10
			}
		}
		m.start(t, core.Config{ID: m.id, Peers: ids}, peers, quota)
	}
	for _, m := range ms {
		waitLeader(t, m)
	}
	ctx := ctxT(t)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = ms[0].cli.Put(ctx, fmt.Sprintf("q%d", i), strings.Repeat("x", 4096))
	}
	if err != rpctypes.ErrNoSpace {
		t.Fatalf("put over member 1's quota: %v", err)
	}
	if err.Error() != "etcdserver: mvcc: database space exceeded" {
		t.Fatalf("error text %q", err)
	}
	want := fmt.Sprint([]*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}})
	for _, m := range ms {
		eventually(t, 5*time.Second, func() error {
			al, err := m.cli.AlarmList(ctx)
			if err != nil || fmt.Sprint(al.Alarms) != want {
				return fmt.Errorf("member %d lists %v, %v", m.id, al, err)
			}
			return nil
		})
		if _, err := m.cli.Put(ctx, "more", "x"); err != rpctypes.ErrNoSpace {
			t.Fatalf("put on member %d under a cluster NOSPACE: %v", m.id, err)
		}
		st, err := m.cli.Status(ctx, m.clientURL()[len("http://"):])
		if err != nil || !strings.Contains(strings.Join(st.Errors, ";"), "alarm:NOSPACE") {
			t.Fatalf("status of member %d: %v %v", m.id, st, err)
		}
	}
	if _, err := ms[1].cli.Delete(ctx, "q", clientv3.WithPrefix()); err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	if _, err := ms[2].cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		eventually(t, 5*time.Second, func() error {
			_, err := m.cli.Put(ctx, "after", "x")
			return err
		})
	}
}
