package core_test

import (
	"fmt"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
	"metastore/core/disk"
	"metastore/core/mvcc"
	"metastore/engines/memory"
)

// propose proposes req on replica at and returns its result.
func (c *testCluster) propose(at uint64, req *pb.InternalRaftRequest) core.Result {
	c.t.Helper()
	var got *core.Result
	c.nodes[at].Propose(req, func(r core.Result) { got = &r })
	c.stabilize()
	if got == nil {
		c.t.Fatalf("proposal on %d: no answer", at)
	}
	return *got
}

// dump is every live key with its revisions, and the leases, as a replica
// serves them.
func dump(t *testing.T, s *mvcc.Store) string {
	t.Helper()
	resp, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("rev %d compact %d count %d\n", resp.Header.Revision, s.CompactRev(), resp.Count)
	for _, kv := range resp.Kvs {
		out += fmt.Sprintf("%s=%s c%d m%d v%d l%x\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	for _, l := range s.Leases() {
		out += fmt.Sprintf("lease %x ttl %d keys %q\n", l.ID, l.TTL, l.Keys)
	}
	return out
}

// restoredCluster builds replicas ids from a store snapshot with
// core.Restore and opens them; nothing bootstraps.
func restoredCluster(t *testing.T, data []byte, ids []uint64) *testCluster {
	c := &testCluster{t: t, ids: ids, nodes: map[uint64]*core.Replica{}, disks: map[uint64]*disk.Mem{},
		cut: map[uint64]bool{}, clock: &testClock{}, sent: map[raftpb.MessageType]int{}}
	var members []mvcc.Member
	for _, id := range ids {
		members = append(members, mvcc.Member{ID: id, Context: []byte(fmt.Sprintf("member-%d", id))})
	}
	for _, id := range ids {
		c.disks[id] = disk.NewMem()
		_, err := core.Restore(core.RestoreConfig{Dir: fmt.Sprintf("/n%d", id), Disk: c.disks[id],
			Engine: memory.New(), Data: data, Members: members})
		if err != nil {
			t.Fatalf("restore %d: %v", id, err)
		}
		// Peers would bootstrap a fresh directory; a restored one must not
		// need them.
		c.cfgTune = func(cfg *core.Config) { cfg.Peers = nil }
		c.start(id)
	}
	return c
}

func TestRestoreStartsANewClusterWithEveryKeyRevisionAndLease(t *testing.T) {
	old := newTestCluster(t, 3, func(cfg *core.Config) { cfg.SnapshotEntries = 40 })
	lead := old.leader()
	grant := old.propose(lead, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 3600}})
	leaseID := grant.Resp.(*pb.LeaseGrantResponse).ID
	for i := range 100 {
		req := &pb.PutRequest{Key: []byte(fmt.Sprintf("k%03d", i%30)), Value: []byte(fmt.Sprintf("v%d", i))}
		if i%10 == 0 {
			req.Lease = leaseID
		}
		if res := old.propose(lead, &pb.InternalRaftRequest{Put: req}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	old.propose(lead, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k005")}})
	old.propose(lead, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 50}})
	old.propose(lead, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{
		Action: pb.AlarmRequest_ACTIVATE, MemberID: lead, Alarm: pb.AlarmType_NOSPACE}})
	src := old.nodes[lead].Store()
	want := dump(t, src)
	data, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	ids := []uint64{11, 12, 13}
	c := restoredCluster(t, data, ids)
	for _, id := range ids {
		// Before any election: each member already holds the data and
		// the new membership.
		st := c.nodes[id].Status()
		if !slices.Equal(st.Voters, ids) || st.Applied != src.AppliedIndex() || st.Leader != 0 {
			t.Fatalf("restored %d before election: %+v", id, st)
		}
		if got := dump(t, c.nodes[id].Store()); got != want {
			t.Fatalf("restored %d holds\n%s\nwant\n%s", id, got, want)
		}
		if al := c.nodes[id].Store().Alarms(); al != nil {
			t.Fatalf("restored %d kept the old cluster's alarms %v", id, al)
		}
		var mids []uint64
		for _, m := range c.nodes[id].Store().Members() {
			mids = append(mids, m.ID)
			if string(m.Context) != fmt.Sprintf("member-%d", m.ID) {
				t.Fatalf("member %d context %q", m.ID, m.Context)
			}
		}
		if !slices.Equal(mids, ids) {
			t.Fatalf("restored %d member table %v", id, mids)
		}
	}
	newLead := c.leader()
	c.hashesAgree()
	res := c.propose(newLead, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("after"), Value: []byte("x")}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if rev := res.Resp.(*pb.PutResponse).Header.Revision; rev != src.Rev()+1 {
		t.Fatalf("first write after restore at revision %d, want %d", rev, src.Rev()+1)
	}
	// The lease still holds its keys, and revoking it through the new
	// cluster deletes them.
	res = c.propose(newLead, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: leaseID}})
	if res.Err != nil {
		t.Fatalf("revoke restored lease: %v", res.Err)
	}
	if got, _ := c.get(newLead, "k010", false); got == nil || len(got.Kvs) != 0 {
		t.Fatalf("k010 (on the revoked lease) after revoke: %v", got)
	}
	c.hashesAgree()

	// A restart recovers from the restored snapshot plus the new log.
	victim := ids[0]
	if victim == newLead {
		victim = ids[1]
	}
	before := c.nodes[victim].Store().Hash()
	c.crash(victim)
	c.start(victim)
	c.tick(3)
	if got := c.nodes[victim].Store().Hash(); got != before {
		t.Fatalf("restarted restored member hash %x, before %x", got, before)
	}
}

func TestRestoreRefusesADirectoryWithAWAL(t *testing.T) {
	old := newTestCluster(t, 1, nil)
	old.leader()
	data, err := old.nodes[1].Store().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.RestoreConfig{Dir: "/r", Disk: disk.NewMem(), Engine: memory.New(), Data: data,
		Members: []mvcc.Member{{ID: 5}}}
	if _, err := core.Restore(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Engine = memory.New()
	if _, err := core.Restore(cfg); err == nil {
		t.Fatal("a second restore into the same directory succeeded")
	}
	bad := slices.Clone(data)
	bad[len(bad)/2] ^= 0xff
	cfg = core.RestoreConfig{Dir: "/r2", Disk: disk.NewMem(), Engine: memory.New(), Data: bad,
		Members: []mvcc.Member{{ID: 5}}}
	if _, err := core.Restore(cfg); err == nil {
		t.Fatal("restore of a damaged snapshot succeeded")
	}
}
