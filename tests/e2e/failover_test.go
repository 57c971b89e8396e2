package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/checker"
)

// TestFailover kills the leader of a three-member cluster with SIGKILL
// under a recorded put/get load, restarts it on the same data directory,
// and then checks that:
//   - the two survivors elect a new leader and keep acknowledging writes;
//   - the clients' history is linearizable (porcupine, etcd's revisions),
//     its unanswered writes settled from the members' common applied log;
//   - every member, the restarted one included, holds every acknowledged
//     write (or a later one), each exactly once at its acknowledged revision,
//     and all members applied the same log;
//   - all members agree on HashKV at the same revision.
func TestFailover(t *testing.T) {
	const (
		prefix  = "failover/"
		workers = 6
		nkeys   = 6
	)
	// A small snapshot count makes the members snapshot and compact their
	// log during the run, so the restart recovers from snapshot + WAL.
	c := newCluster(t, 3, "--snapshot-count=500")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	setup := c.client(c.endpoints()...)
	resp, err := setup.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("%d keys under %s before the load", len(resp.Kvs), prefix)
	}
	initialRev := resp.Header.Revision
	var keys []string
	for i := range nkeys {
		keys = append(keys, fmt.Sprintf("%sk%d", prefix, i))
	}
	var clients []*clientv3.Client
	for range workers {
		clients = append(clients, c.client(c.endpoints()...))
	}

	rec := &recorder{start: time.Now()}
	ld := startLoad(rec, clients, keys)
	loadStopped := false
	defer func() {
		if !loadStopped {
			ld.stop()
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	if ld.stats.ackedPuts.Load() == 0 {
		t.Fatalf("no write acknowledged before the fault: %v", &ld.stats)
	}

	old, err := c.waitLeader(ctx, c.members)
	if err != nil {
		t.Fatal(err)
	}
	before := ld.stats.String()
	killedAt := time.Now()
	c.kill(old)
	var rest []*member
	for _, m := range c.members {
		if m != old {
			rest = append(rest, m)
		}
	}
	electCtx, electCancel := context.WithTimeout(ctx, 20*time.Second)
	leader, err := c.waitLeader(electCtx, rest)
	electCancel()
	if err != nil {
		t.Fatalf("no new leader after killing %s: %v", old.name, err)
	}
	toLeader := time.Since(killedAt)
	t.Logf("killed leader %s (load so far: %s); %s leads after %v", old.name, before, leader.name, toLeader.Round(time.Millisecond))

	// The survivors keep acknowledging writes.
	electedAt := rec.now()
	deadline := time.Now().Add(15 * time.Second)
	for ld.stats.lastAck.Load() < electedAt+int64(time.Second) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ld.stats.lastAck.Load() < electedAt {
		t.Fatalf("no write acknowledged in 15s after %s became leader: %v", leader.name, &ld.stats)
	}

	c.start(old)
	if _, err := c.waitLeader(ctx, c.members); err != nil {
		t.Fatalf("after restarting %s: %v", old.name, err)
	}
	time.Sleep(time.Second)
	ld.stop()
	loadStopped = true
	t.Logf("load: %v over %v", &ld.stats, time.Since(rec.start).Round(time.Millisecond))

	ops := rec.ops()
	acked := checker.AckedWritesFromHistory(ops)
	rev := converge(t, ctx, c)
	checkHashes(t, ctx, c, rev)

	var first []checker.AppliedWrite
	for i, m := range c.members {
		applied, final := readBack(t, ctx, m, prefix, initialRev, rev)
		if err := checker.Durable(acked, applied, final); err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
		if err := checker.AckedWritesExactlyOnce(acked, applied); err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
		if i == 0 {
			first = applied
		} else if !slices.Equal(applied, first) {
			t.Errorf("%s applied a different log than %s (%d vs %d writes)", m.name, c.members[0].name, len(applied), len(first))
		}
	}
	t.Logf("%d acked writes present on all members; log of %d writes up to revision %d", len(acked), len(first), rev)

	// Settle the unanswered writes from the applied log, identical on all
	// members: each either took effect at its logged revision or never did.
	// Without this, each one doubles porcupine's search.
	start := time.Now()
	res, err := checker.Linearizable(checker.ResolveUnknown(ops, first), checker.Options{
		InitialRev:   initialRev,
		Timeout:      60 * time.Second,
		VisualizeDir: t.ArtifactDir(),
		Name:         "failover",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("linearizability: %v in %v", res, time.Since(start).Round(time.Millisecond))
	if res.Verdict != checker.Pass {
		t.Fatalf("history is not proven linearizable: %v", res)
	}
}
