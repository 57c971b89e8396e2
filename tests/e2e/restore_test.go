package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestDisasterRecovery is etcd's disaster-recovery drill on real processes:
// a three-member cluster with 10,000 keys, overwrites, deletions, leases
// and a compaction is saved with `etcdctl snapshot save`; a member restored
// from that file is refused by the old cluster; then every
// member and data directory is destroyed, three new members are restored
// with `metastore snapshot restore`, and the new cluster serves the same
// keys, values, create and mod revisions, versions, history after the
// compaction, and leases.
func TestDisasterRecovery(t *testing.T) {
	old := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := old.client(old.endpoints()...)
	compactRev := loadForRecovery(ctx, t, cli)
	want := recoveryDump(ctx, t, cli, compactRev)
	t.Logf("saved cluster: revision %d, %d keys, compacted at %d, leases %x, dump of %d lines", want.rev, want.count, compactRev, want.leases, strings.Count(want.text, "\n"))

	file := filepath.Join(t.TempDir(), "backup.db")
	out := ctl(t, old.endpoints()[:1], "", "snapshot", "save", file)
	if !strings.Contains(out, "Snapshot saved at "+file) {
		t.Fatalf("snapshot save printed %q", out)
	}
	var st struct {
		Revision int64 `json:"revision"`
		TotalKey int   `json:"totalKey"`
	}
	if err := json.Unmarshal([]byte(metastore(t, "snapshot", "status", file, "-w", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Revision != want.rev || st.TotalKey != want.count {
		t.Fatalf("snapshot status: revision %d, %d keys; the cluster had %d, %d", st.Revision, st.TotalKey, want.rev, want.count)
	}

	t.Run("restored_member_refused_by_old_cluster", func(t *testing.T) {
		testRefusedByOldCluster(ctx, t, old, file)
	})

	// The disaster: every member gone, with its data.
	for _, m := range old.members {
		if err := old.stop(m); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(m.dataDir); err != nil {
			t.Fatal(err)
		}
	}
	restored := restoreCluster(t, file, 3, "restored-"+sanitize(t.Name()))
	rcli := restored.client(restored.endpoints()...)
	got := recoveryDump(ctx, t, rcli, compactRev)
	if got.text != want.text {
		t.Fatalf("restored cluster differs from the saved one:\n%s", firstDiff(got.text, want.text))
	}
	for _, m := range restored.members {
		one := restored.client(m.client)
		resp, err := one.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		if err != nil || resp.Count != int64(want.count) || resp.Header.Revision != want.rev {
			t.Fatalf("%s serves %v keys at revision %v (%v), want %d at %d", m.name, resp.Count, resp.Header.Revision, err, want.count, want.rev)
		}
	}
	// The cluster works on: a write takes the next revision, and revoking a
	// restored lease deletes its keys.
	put, err := rcli.Put(ctx, "after/restore", "x")
	if err != nil || put.Header.Revision != want.rev+1 {
		t.Fatalf("first write after restore: %v at %v, want revision %d", err, put, want.rev+1)
	}
	if _, err := rcli.Revoke(ctx, want.leases[0]); err != nil {
		t.Fatalf("revoke restored lease %x: %v", want.leases[0], err)
	}
	resp, err := rcli.Get(ctx, fmt.Sprintf("lease/%x/", want.leases[0]), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Fatalf("keys of the revoked lease: %v, %v", resp, err)
	}
}

// loadForRecovery writes 10,000 keys in txns of 100 puts, overwrites 500,
// compacts, deletes 300 (one range and single keys), and attaches 60 keys
// to three leases. It returns the compaction revision.
func loadForRecovery(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	txnPuts := func(keys []string, val string, opts ...clientv3.OpOption) {
		t.Helper()
		ops := make([]clientv3.Op, len(keys))
		for i, k := range keys {
			ops[i] = clientv3.OpPut(k, val+"/"+k, opts...)
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for b := range 100 {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprintf("k/%05d", b*100+i)
		}
		txnPuts(keys, "v1")
	}
	resp, err := cli.Get(ctx, "k/00000")
	if err != nil {
		t.Fatal(err)
	}
	compactRev := resp.Header.Revision
	for b := range 5 {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprintf("k/%05d", b*1000+i*7)
		}
		txnPuts(keys, "v2")
	}
	if _, err := cli.Compact(ctx, compactRev); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "k/09000", clientv3.WithRange("k/09250")); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := cli.Delete(ctx, fmt.Sprintf("k/%05d", 3+i*13)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		lease, err := cli.Grant(ctx, 3600)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 20)
		for i := range keys {
			keys[i] = fmt.Sprintf("lease/%x/%02d", lease.ID, i)
		}
		txnPuts(keys, "leased", clientv3.WithLease(lease.ID))
	}
	return compactRev
}

// dumpResult is a cluster's observable state, printed.
type dumpResult struct {
	text   string
	rev    int64
	count  int
	leases []clientv3.LeaseID
}

// recoveryDump prints every key with its value, revisions, version and
// lease; the history at the compaction revision; the compaction itself
// (one revision earlier is refused); and every lease with its granted TTL
// and keys.
func recoveryDump(ctx context.Context, t *testing.T, cli *clientv3.Client, compactRev int64) dumpResult {
	t.Helper()
	var b strings.Builder
	all, err := cli.Get(ctx, "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	d := dumpResult{rev: all.Header.Revision, count: len(all.Kvs)}
	fmt.Fprintf(&b, "revision %d, %d keys\n", all.Header.Revision, all.Count)
	for _, kv := range all.Kvs {
		fmt.Fprintf(&b, "%s=%s create=%d mod=%d version=%d lease=%x\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	past, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithRev(compactRev))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "at revision %d: %d keys\n", compactRev, past.Count)
	for _, kv := range past.Kvs {
		fmt.Fprintf(&b, "  %s=%s mod=%d\n", kv.Key, kv.Value, kv.ModRevision)
	}
	if _, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithRev(compactRev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below the compaction revision: %v", err)
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		d.leases = append(d.leases, l.ID)
	}
	slices.Sort(d.leases)
	for _, id := range d.leases {
		ttl, err := cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(ttl.Keys))
		for i, k := range ttl.Keys {
			keys[i] = string(k)
		}
		slices.Sort(keys)
		fmt.Fprintf(&b, "lease %x granted %d keys %q\n", id, ttl.GrantedTTL, keys)
	}
	if len(d.leases) != 3 {
		t.Fatalf("%d leases, want 3", len(d.leases))
	}
	d.text = b.String()
	return d
}

// restoreCluster restores n members from file into new data directories,
// on new ports, with token, and starts them as a cluster.
func restoreCluster(t *testing.T, file string, n int, token string) *cluster {
	t.Helper()
	base := t.TempDir()
	ports := freePorts(t, 3*n)
	c := &cluster{t: t, token: token}
	var peers []string
	for i := range n {
		m := &member{
			name:    fmt.Sprintf("r%d", i+1),
			client:  fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			peer:    fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			metrics: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
		}
		m.dataDir = filepath.Join(base, m.name)
		m.logPath = filepath.Join(base, m.name+".log")
		c.members = append(c.members, m)
		peers = append(peers, m.name+"=http://"+m.peer)
	}
	c.initial = strings.Join(peers, ",")
	t.Cleanup(c.cleanup)
	for _, m := range c.members {
		metastore(t, "snapshot", "restore", file, "--name", m.name, "--data-dir", m.dataDir,
			"--initial-cluster", c.initial, "--initial-cluster-token", token,
			"--initial-advertise-peer-urls", "http://"+m.peer)
	}
	for _, m := range c.members {
		c.start(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.waitLeader(ctx, c.members); err != nil {
		t.Fatalf("restored cluster never agreed on a leader: %v", err)
	}
	if err := c.waitPublished(ctx); err != nil {
		t.Fatalf("restored members never published their attributes: %v", err)
	}
	return c
}

// testRefusedByOldCluster replaces old member m1 by members restored from
// file at m1's name and peer URL, as an operator restoring into a live
// cluster by mistake would, and checks that the old cluster refuses them:
// with a new token (the documented way) the two sides refuse each other's
// token; with the old token reused but another membership, the restored
// member has m1's member ID but not the old cluster ID, and the old
// members' streams are refused for it. Either way the restored member gets
// no leader and the old cluster keeps its own and its three members.
func testRefusedByOldCluster(ctx context.Context, t *testing.T, old *cluster, file string) {
	m1, m2 := old.members[0], old.members[1]
	if err := old.stop(m1); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	otherMembers := fmt.Sprintf("%s=http://%s,x2=http://127.0.0.1:%d,x3=http://127.0.0.1:%d", m1.name, m1.peer, ports[0], ports[1])
	for _, tc := range []struct {
		name, token, initial string
		refusal              string
		logs                 []string // whose logs show the refusal
	}{
		{"new token", "restored-intruder", old.initial, "cluster token mismatch", []string{"intruder", m2.name}},
		{"old token, other members", old.token, otherMembers, "cluster ID mismatch", []string{m2.name}},
	} {
		dir := t.TempDir()
		intruder := &member{name: m1.name, client: m1.client, peer: m1.peer, metrics: m1.metrics,
			dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "intruder.log")}
		c := &cluster{t: t, token: tc.token, initial: tc.initial, members: []*member{intruder}}
		t.Cleanup(c.cleanup)
		metastore(t, "snapshot", "restore", file, "--name", intruder.name, "--data-dir", intruder.dataDir,
			"--initial-cluster", c.initial, "--initial-cluster-token", c.token,
			"--initial-advertise-peer-urls", "http://"+intruder.peer)
		m2Before := strings.Count(readFile(m2.logPath), tc.refusal)
		c.start(intruder)
		refused := func() bool {
			for _, who := range tc.logs {
				if who == "intruder" && !strings.Contains(readFile(intruder.logPath), tc.refusal) ||
					who == m2.name && strings.Count(readFile(m2.logPath), tc.refusal) == m2Before {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(15 * time.Second); !refused(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q in the logs of %v", tc.name, tc.refusal, tc.logs)
			}
		}
		st, err := c.client(intruder.client).Status(ctx, intruder.client)
		if err != nil {
			t.Fatal(err)
		}
		ocli := old.client(m2.client)
		ost, err := ocli.Status(ctx, m2.client)
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader != 0 || st.Header.ClusterId == ost.Header.ClusterId {
			t.Fatalf("%s: restored member has leader %x, cluster %x; the old cluster is %x", tc.name, st.Leader, st.Header.ClusterId, ost.Header.ClusterId)
		}
		if _, err := ocli.Get(ctx, "k/00001"); err != nil {
			t.Fatalf("%s: linearizable read on the old cluster: %v", tc.name, err)
		}
		if ml, err := ocli.MemberList(ctx); err != nil || len(ml.Members) != 3 {
			t.Fatalf("%s: old cluster's members: %v, %v", tc.name, ml, err)
		}
		if err := c.stop(intruder); err != nil {
			t.Fatal(err)
		}
	}
}

// metastore runs the metastore binary with args and returns its stdout.
func metastore(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(metastoreBin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("metastore %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// firstDiff shows the first line where two dumps differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}
