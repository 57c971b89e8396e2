package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/checker"
)

// rocksArgs run a member on the RocksDB engine, with a snapshot count small
// enough that the crash tests cross snapshots and log compactions.
var rocksArgs = []string{"--engine=rocksdb", "--snapshot-count=300"}

// putLoad is a bounded put-only load: each worker writes its own keys with
// values unique across the run, and records the writes acknowledged to it.
type putLoad struct {
	prefix string
	stopc  chan struct{}
	wg     sync.WaitGroup
	seq    atomic.Int64

	mu     sync.Mutex
	acked  []checker.AckedWrite
	maxAck int64
	tried  int64
}

func startPutLoad(cli *clientv3.Client, prefix string, workers, keysPerWorker int) *putLoad {
	l := &putLoad{prefix: prefix, stopc: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				key := fmt.Sprintf("%sw%d/k%d", prefix, w, i%keysPerWorker)
				val := fmt.Sprintf("v%d", l.seq.Add(1))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				resp, err := cli.Put(ctx, key, val)
				cancel()
				l.mu.Lock()
				l.tried++
				if err == nil {
					l.acked = append(l.acked, checker.AckedWrite{Key: key, Value: val, Revision: resp.Header.Revision})
					l.maxAck = max(l.maxAck, resp.Header.Revision)
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the member is down: do not spin
				}
			}
		}()
	}
	return l
}

func (l *putLoad) stop() {
	close(l.stopc)
	l.wg.Wait()
}

func (l *putLoad) counts() (acked int, maxAck int64, tried int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.maxAck, l.tried
}

// TestRocksDBCrashLoop kills a one-member RocksDB cluster with SIGKILL under
// a put load 20 times, restarting it on the same data directory each time.
// A single member has no peer to repair it from: whatever it acknowledged
// must come back from its own raft WAL and RocksDB. Afterwards, from the
// member's own history (a watch from before the load) and state:
//   - every acknowledged write is applied exactly once, at the revision it
//     was acknowledged with, and is still the key's value or was superseded
//     by a later applied write;
//   - no write, acknowledged or not, was applied twice (values are unique);
//   - revisions run without gaps, one per put, and each key's versions and
//     create revision follow from its puts (a model replayed from the log);
//   - the final state equals that model.
func TestRocksDBCrashLoop(t *testing.T) {
	const (
		prefix = "crash/"
		cycles = 20
	)
	c := newCluster(t, 1, rocksArgs...)
	m := c.members[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := c.client(m.client)
	resp, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	initialRev := resp.Header.Revision

	ld := startPutLoad(cli, prefix, 4, 8)
	stopped := false
	defer func() {
		if !stopped {
			ld.stop()
		}
	}()
	start := time.Now()
	var downtime time.Duration
	for i := range cycles {
		// Let some writes through, then crash in the middle of them.
		before, _, _ := ld.counts()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
			if n, _, _ := ld.counts(); n >= before+40 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, maxAck, _ := ld.counts()
		c.kill(m)
		down := time.Now()
		c.start(m)
		if _, err := c.waitLeader(ctx, c.members); err != nil {
			t.Fatalf("cycle %d: no leader after restart: %v", i, err)
		}
		downtime += time.Since(down)
		// Nothing acknowledged before the crash may be missing after it.
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := cli.Get(rctx, "x", clientv3.WithSerializable())
		rcancel()
		if err != nil {
			t.Fatalf("cycle %d: read after restart: %v", i, err)
		}
		if r.Header.Revision < maxAck {
			t.Fatalf("cycle %d: revision %d after restart, but %d was acknowledged before the crash", i, r.Header.Revision, maxAck)
		}
	}
	time.Sleep(300 * time.Millisecond)
	ld.stop()
	stopped = true
	nAcked, _, tried := ld.counts()
	if nAcked < cycles*20 {
		t.Fatalf("only %d writes acknowledged over %d cycles: the load did not run", nAcked, cycles)
	}
	t.Logf("%d crash-restart cycles in %v (restart to leader: %v on average); %d puts tried, %d acknowledged",
		cycles, time.Since(start).Round(time.Millisecond), (downtime / cycles).Round(time.Millisecond), tried, nAcked)

	r, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, ctx, m, prefix, initialRev, r.Header.Revision, ld.acked)
}

// checkHistory reads m's history of prefix in (fromRev, toRev] and its
// state at toRev, and checks them against the acknowledged puts and a model
// replayed from the history (see TestRocksDBCrashLoop).
func checkHistory(t *testing.T, ctx context.Context, m *member, prefix string, fromRev, toRev int64, acked []checker.AckedWrite) {
	t.Helper()
	events := watchHistory(t, ctx, m, prefix, fromRev, toRev)
	var applied []checker.AppliedWrite
	type model struct {
		value                string
		create, mod, version int64
	}
	keys := map[string]*model{}
	seen := map[string]int64{}
	for i, ev := range events {
		kv := ev.Kv
		if ev.Type != mvccpb.PUT {
			t.Fatalf("unexpected %v event on %q", ev.Type, kv.Key)
		}
		if want := fromRev + 1 + int64(i); kv.ModRevision != want {
			t.Fatalf("event %d at revision %d, want %d: revisions skip or repeat", i, kv.ModRevision, want)
		}
		if rev, dup := seen[string(kv.Value)]; dup {
			t.Fatalf("value %q applied twice, at revisions %d and %d", kv.Value, rev, kv.ModRevision)
		}
		seen[string(kv.Value)] = kv.ModRevision
		k := keys[string(kv.Key)]
		if k == nil {
			k = &model{create: kv.ModRevision}
			keys[string(kv.Key)] = k
		}
		k.value, k.mod = string(kv.Value), kv.ModRevision
		k.version++
		if kv.Version != k.version || kv.CreateRevision != k.create {
			t.Fatalf("%q at %d: version %d create %d, model says version %d create %d",
				kv.Key, kv.ModRevision, kv.Version, kv.CreateRevision, k.version, k.create)
		}
		applied = append(applied, checker.AppliedWrite{Revision: kv.ModRevision, Key: string(kv.Key), Value: string(kv.Value)})
	}
	if n := int64(len(events)); n != toRev-fromRev {
		t.Fatalf("%d events in (%d, %d]", n, fromRev, toRev)
	}
	cli, err := newClient(m.client)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithRev(toRev))
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]checker.KV{}
	for _, kv := range resp.Kvs {
		k := keys[string(kv.Key)]
		if k == nil || k.value != string(kv.Value) || k.mod != kv.ModRevision || k.version != kv.Version || k.create != kv.CreateRevision {
			t.Fatalf("final %q = %q mod %d version %d create %d; model %+v", kv.Key, kv.Value, kv.ModRevision, kv.Version, kv.CreateRevision, k)
		}
		final[string(kv.Key)] = checker.KV{Key: string(kv.Key), Value: string(kv.Value),
			ModRev: kv.ModRevision, CreateRev: kv.CreateRevision, Version: kv.Version}
	}
	if len(final) != len(keys) {
		t.Fatalf("final state has %d keys, the history %d", len(final), len(keys))
	}
	if err := checker.AckedWritesExactlyOnce(acked, applied); err != nil {
		t.Fatal(err)
	}
	if err := checker.Durable(acked, applied, final); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d writes in (%d, %d] on %d keys; all %d acknowledged ones applied once and kept", m.name, len(events), fromRev, toRev, len(keys), len(acked))
}

// watchHistory returns every event of prefix in (fromRev, toRev], replayed
// by m from its own store.
func watchHistory(t *testing.T, ctx context.Context, m *member, prefix string, fromRev, toRev int64) []*clientv3.Event {
	t.Helper()
	var out []*clientv3.Event
	if toRev <= fromRev {
		return out
	}
	cli, err := newClient(m.client)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for wr := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(fromRev+1)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("%s: watch from %d: %v", m.name, fromRev+1, err)
		}
		for _, ev := range wr.Events {
			if ev.Kv.ModRevision > toRev {
				return out
			}
			out = append(out, ev)
		}
		if n := len(out); n > 0 && out[n-1].Kv.ModRevision == toRev {
			return out
		}
	}
	if err := wctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: watch from %d ended early: %v (got %d events)", m.name, fromRev+1, err, len(out))
	}
	return out
}

// TestMixedEnginesCluster runs two RocksDB members and one memory member
// under a put load and kills each with SIGKILL in turn, restarting it on
// its data directory. The members must agree on HashKV, hold the same
// history, and keep every acknowledged write exactly once.
func TestMixedEnginesCluster(t *testing.T) {
	const prefix = "mixed/"
	c := newClusterOf(t, [][]string{{"--engine=rocksdb"}, {"--engine=rocksdb"}, {"--engine=memory"}}, "--snapshot-count=300")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli := c.client(c.endpoints()...)
	resp, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	initialRev := resp.Header.Revision
	ld := startPutLoad(cli, prefix, 4, 8)
	stopped := false
	defer func() {
		if !stopped {
			ld.stop()
		}
	}()
	for _, m := range c.members {
		time.Sleep(700 * time.Millisecond)
		c.kill(m)
		time.Sleep(300 * time.Millisecond) // the others go on without it
		c.start(m)
		if _, err := c.waitLeader(ctx, c.members); err != nil {
			t.Fatalf("after restarting %s: %v", m.name, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	ld.stop()
	stopped = true
	nAcked, _, tried := ld.counts()
	if nAcked == 0 {
		t.Fatal("no write acknowledged")
	}
	t.Logf("killed and restarted each member once; %d puts tried, %d acknowledged", tried, nAcked)
	rev := converge(t, ctx, c)
	checkHashes(t, ctx, c, rev)
	var first []*clientv3.Event
	for i, m := range c.members {
		checkHistory(t, ctx, m, prefix, initialRev, rev, ld.acked)
		evs := watchHistory(t, ctx, m, prefix, initialRev, rev)
		if i == 0 {
			first = evs
			continue
		}
		if len(evs) != len(first) {
			t.Fatalf("%s has %d events, %s %d", m.name, len(evs), c.members[0].name, len(first))
		}
		for j := range evs {
			a, b := evs[j].Kv, first[j].Kv
			if string(a.Key) != string(b.Key) || string(a.Value) != string(b.Value) || a.ModRevision != b.ModRevision || a.Version != b.Version {
				t.Fatalf("%s and %s differ at event %d: %v vs %v", m.name, c.members[0].name, j, a, b)
			}
		}
	}
}
