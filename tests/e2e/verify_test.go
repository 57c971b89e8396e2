package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/checker"
)

// converge waits until every member has applied the same log (equal raft
// applied index and revision, with no more writes coming) and returns that
// revision.
func converge(t *testing.T, ctx context.Context, c *cluster) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var revs []int64
		var applied []uint64
		for _, m := range c.members {
			st, err := c.status(ctx, m)
			if err != nil {
				last = fmt.Sprintf("%s: %v", m.name, err)
				break
			}
			revs = append(revs, st.Header.Revision)
			applied = append(applied, st.RaftAppliedIndex)
		}
		if len(revs) == len(c.members) {
			same := true
			for i := range revs {
				same = same && revs[i] == revs[0] && applied[i] == applied[0]
			}
			if same {
				return revs[0]
			}
			last = fmt.Sprintf("revisions %v, applied indexes %v", revs, applied)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("members did not converge within 30s: %s", last)
	return 0
}

// checkHashes compares every member's HashKV at revision rev.
func checkHashes(t *testing.T, ctx context.Context, c *cluster, rev int64) {
	t.Helper()
	hashes := map[uint64]uint32{}
	for _, m := range c.members {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.admin.HashKV(hctx, m.client, rev)
		cancel()
		if err != nil {
			t.Fatalf("HashKV(%d) on %s: %v", rev, m.name, err)
		}
		if resp.HashRevision != rev {
			t.Fatalf("HashKV(%d) on %s hashed revision %d", rev, m.name, resp.HashRevision)
		}
		hashes[resp.Header.MemberId] = resp.Hash
	}
	if err := checker.HashesAgree(hashes); err != nil {
		t.Fatal(err)
	}
}

// readBack reads m's own state under prefix: the applied log of writes in
// (fromRev, toRev] from a watch that replays history, and the final keys
// from a serializable range at toRev, so the member answers from its own
// store.
func readBack(t *testing.T, ctx context.Context, m *member, prefix string, fromRev, toRev int64) ([]checker.AppliedWrite, map[string]checker.KV) {
	t.Helper()
	cli, err := newClient(m.client)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithRev(toRev))
	if err != nil {
		t.Fatalf("%s: range at %d: %v", m.name, toRev, err)
	}
	final := map[string]checker.KV{}
	for _, kv := range resp.Kvs {
		final[string(kv.Key)] = checker.KV{Key: string(kv.Key), Value: string(kv.Value),
			ModRev: kv.ModRevision, CreateRev: kv.CreateRevision, Version: kv.Version}
	}

	var applied []checker.AppliedWrite
	if toRev <= fromRev {
		return applied, final
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	wch := cli.Watch(clientv3.WithRequireLeader(wctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(fromRev+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			t.Fatalf("%s: watch from %d: %v", m.name, fromRev+1, err)
		}
		for _, ev := range wr.Events {
			if ev.Kv.ModRevision > toRev {
				return applied, final
			}
			applied = append(applied, checker.AppliedWrite{Revision: ev.Kv.ModRevision, Key: string(ev.Kv.Key),
				Value: string(ev.Kv.Value), Delete: ev.Type == mvccpb.DELETE})
		}
		if n := len(applied); n > 0 && applied[n-1].Revision == toRev {
			return applied, final
		}
	}
	t.Fatalf("%s: watch from %d ended at %d writes before revision %d: %v", m.name, fromRev+1, len(applied), toRev, wctx.Err())
	return nil, nil
}
