package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/core"
)

// A member that was down while the others snapshotted and compacted their
// logs past it catches up from a snapshot: written by the leader's
// background job, streamed as a file over the peer transport, stored and
// installed by the returning member.
func TestClusterMemberCatchesUpFromStreamedSnapshot(t *testing.T) {
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, uint64(i+1))
	}
	catchUpFromSnapshot(t, ms, nil)
}

// catchUpFromSnapshot starts ms as one cluster, stops a follower, writes
// 150 keys until the leader's snapshot is past it, calls whileDown (if not
// nil) with the leader, then restarts the follower and waits until it has
// installed a snapshot and holds every key. It returns the leader.
func catchUpFromSnapshot(t *testing.T, ms []*member, whileDown func(lead *member)) *member {
	t.Helper()
	peers := map[uint64]string{}
	var ids []uint64
	for _, m := range ms {
		peers[m.id] = m.peerURL()
		ids = append(ids, m.id)
	}
	cfg := func(id uint64) core.Config {
		return core.Config{ID: id, Peers: ids, SnapshotEntries: 20, CatchUpEntries: 5, LogKeepBytes: 1}
	}
	for _, m := range ms {
		m.start(t, cfg(m.id), peers)
	}
	lead, fs := leaderOf(t, ms)
	lag := fs[0]
	clientAddr, peerAddr := lag.lis.Addr().String(), lag.peerLis.Addr().String()
	lag.stop()

	ctx := ctxT(t)
	val := strings.Repeat("x", 2000)
	for i := 0; i < 150; i++ {
		if _, err := lead.cli.Put(ctx, fmt.Sprintf("k%03d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, func() error {
		if st := lead.node.Status(); st.SnapshotIdx < 100 {
			return fmt.Errorf("leader's snapshot index %d", st.SnapshotIdx)
		}
		return nil
	})
	if whileDown != nil {
		whileDown(lead)
	}

	var err error
	if lag.lis, err = net.Listen("tcp", clientAddr); err != nil {
		t.Skipf("cannot listen on %s again: %v", clientAddr, err)
	}
	if lag.peerLis, err = net.Listen("tcp", peerAddr); err != nil {
		t.Skipf("cannot listen on %s again: %v", peerAddr, err)
	}
	lag.start(t, cfg(lag.id), peers)
	eventually(t, 20*time.Second, func() error {
		st, lst := lag.node.Status(), lead.node.Status()
		if st.SnapshotsInstalled == 0 || st.Applied < lst.Applied {
			return fmt.Errorf("returning member: installed %d snapshots, applied %d of %d", st.SnapshotsInstalled, st.Applied, lst.Applied)
		}
		return nil
	})
	resp, err := lag.cli.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 150 {
		t.Fatalf("returning member holds %d keys, want 150", resp.Count)
	}
	return lead
}

// A member added after the leader compacted its log needs a snapshot, and
// raft refuses one whose configuration lacks the member: the leader takes a
// fresh snapshot when it applies the addition, so the joiner catches up at
// once rather than at the leader's next SnapshotEntries.
func TestMemberAddedAfterCompactionCatchesUp(t *testing.T) {
	m := newMember(t, 1)
	cfg := core.Config{ID: m.id, Peers: []uint64{m.id}, SnapshotEntries: 20, CatchUpEntries: 5, LogKeepBytes: 1}
	m.start(t, cfg, map[uint64]string{m.id: m.peerURL()})
	ctx := ctxT(t)
	for i := 0; i < 60; i++ {
		if _, err := m.cli.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, func() error {
		if st := m.node.Status(); st.SnapshotIdx < 40 {
			return fmt.Errorf("snapshot index %d", st.SnapshotIdx)
		}
		return nil
	})
	waitPublished(t, m)
	nm := newMember(t, 0)
	add, err := m.cli.MemberAddAsLearner(ctx, []string{nm.peerURL()})
	if err != nil {
		t.Fatal(err)
	}
	nm.id = add.Member.ID
	nm.start(t, core.Config{ID: nm.id, Join: true, SnapshotEntries: 20, CatchUpEntries: 5, LogKeepBytes: 1},
		map[uint64]string{m.id: m.peerURL()})
	// No write follows the addition: only a snapshot taken for it can
	// bring the joiner up to date.
	eventually(t, 20*time.Second, func() error {
		gctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := nm.cli.Get(gctx, "k", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		if err != nil {
			return fmt.Errorf("joiner (applied %d): %w", nm.node.Status().Applied, err)
		}
		if resp.Count != 60 {
			return fmt.Errorf("joiner holds %d keys, want 60", resp.Count)
		}
		return nil
	})
}
