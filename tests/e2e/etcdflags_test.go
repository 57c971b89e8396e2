package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// procfileFlags are the flags of a member line in etcd's own Procfile (a
// local three-member cluster), with this test's ports and data dirs: no
// metrics URL, nothing MetaStore-specific.
func procfileFlags(c *cluster, m *member) []string {
	return []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", "http://" + m.client,
		"--advertise-client-urls", "http://" + m.client,
		"--listen-peer-urls", "http://" + m.peer,
		"--initial-advertise-peer-urls", "http://" + m.peer,
		"--initial-cluster-token", "etcd-cluster-1",
		"--initial-cluster", c.initial,
		"--initial-cluster-state", "new",
		"--enable-pprof",
		"--logger=zap",
		"--log-outputs=stderr",
	}
}

// TestEtcdProcfileCluster starts three members on one host with only
// etcd's Procfile flags: all start (no listener besides client and peer
// URLs), form a cluster, serve HTTP on their client ports, and report
// unhealthy once they lose their leader.
func TestEtcdProcfileCluster(t *testing.T) {
	c := startCluster(t, 3, procfileFlags)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.client(c.endpoints()...).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.members {
		base := "http://" + m.client
		if a := do(t, "GET", base+"/health", ""); a.Status != 200 || a.Body != `{"health":"true","reason":""}` {
			t.Errorf("%s /health: %d %s", m.name, a.Status, a.Body)
		}
		if a := do(t, "GET", base+"/debug/pprof/cmdline", ""); a.Status != 200 || !strings.Contains(a.Body, "--enable-pprof") {
			t.Errorf("%s /debug/pprof/cmdline: %d %.100s", m.name, a.Status, a.Body)
		}
	}

	// Two of three gone: the last has no leader and says so, as etcd.
	for _, m := range c.members[1:] {
		if err := c.stop(m); err != nil {
			t.Fatal(err)
		}
	}
	// Until it notices, /health's read would wait out the request timeout.
	for ctx.Err() == nil {
		if st, err := c.status(ctx, c.members[0]); err == nil && st.Leader == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	base := "http://" + c.members[0].client
	want := `{"health":"false","reason":"RAFT NO LEADER"}` + "\n"
	var a answer
	for ctx.Err() == nil {
		if a = do(t, "GET", base+"/health", ""); a.Status == 503 && a.Body == want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a.Status != 503 || a.Body != want {
		t.Fatalf("/health without a leader: %d %q, want 503 %q", a.Status, a.Body, want)
	}
	// serializable=true asks about the member alone, which still reads.
	if a := do(t, "GET", base+"/health?serializable=true", ""); a.Status != 200 {
		t.Errorf("/health?serializable=true: %d %s", a.Status, a.Body)
	}
}

// TestHealthReportsAlarm fills a small quota: the NOSPACE alarm makes
// /health fail with etcd's reason, unless the alarm is excluded.
// Its logs also go to a file (--log-outputs).
func TestHealthReportsAlarm(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "member.log")
	c := newCluster(t, 1, "--quota-backend-bytes=65536", "--log-outputs=stderr,"+logFile)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if b, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(b), "msg=serving") {
		t.Errorf("--log-outputs file: %v, holds %q", err, b)
	}
	cli := c.client(c.endpoints()...)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = cli.Put(ctx, fmt.Sprintf("fill/%d", i), strings.Repeat("x", 4096))
	}
	if !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("filling the quota: %v", err)
	}
	base := "http://" + c.members[0].client
	want := `{"health":"false","reason":"ALARM NOSPACE"}` + "\n"
	if a := do(t, "GET", base+"/health", ""); a.Status != 503 || a.Body != want {
		t.Errorf("/health with NOSPACE: %d %q, want 503 %q", a.Status, a.Body, want)
	}
	if a := do(t, "GET", base+"/health?exclude=NOSPACE", ""); a.Status != 200 {
		t.Errorf("/health?exclude=NOSPACE: %d %s", a.Status, a.Body)
	}
}

// TestRangeStreamLarge loads 100,000 keys and checks that RangeStream
// answers what Range does, in several chunks, for the whole range and a
// limited one.
func TestRangeStreamLarge(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := c.client(c.endpoints()...)
	const keys, perTxn, writers = 100_000, 128, 8
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := w * perTxn; first < keys; first += writers * perTxn {
				var ops []clientv3.Op
				for k := first; k < min(first+perTxn, keys); k++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("big/%06d", k), fmt.Sprint(k)))
				}
				if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	conn, err := grpc.NewClient(c.members[0].client, grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := pb.NewKVClient(conn)
	for _, req := range []*pb.RangeRequest{
		{Key: []byte("big/"), RangeEnd: []byte("big0")},
		{Key: []byte("big/"), RangeEnd: []byte("big0"), Limit: 54321, KeysOnly: true},
	} {
		want, err := kv.Range(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if req.Limit == 0 && len(want.Kvs) != keys {
			t.Fatalf("Range found %d keys, want %d", len(want.Kvs), keys)
		}
		st, err := kv.RangeStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, chunks := &pb.RangeResponse{}, 0
		for {
			resp, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("RangeStream: %v", err)
			}
			chunks++
			proto.Merge(got, resp.RangeResponse)
		}
		if !proto.Equal(got, want) {
			t.Errorf("limit %d: RangeStream merged (%d keys, count %d, more %v) != Range (%d keys, count %d, more %v)",
				req.Limit, len(got.Kvs), got.Count, got.More, len(want.Kvs), want.Count, want.More)
		}
		if chunks < 2 {
			t.Errorf("limit %d: %d keys came in %d chunk(s)", req.Limit, len(got.Kvs), chunks)
		}
		t.Logf("limit %d: %d keys in %d chunks", req.Limit, len(got.Kvs), chunks)
	}
}

// TestProgressNotifyInterval watches an idle key with progress
// notifications on a member started with a short
// --watch-progress-notify-interval: notifications keep arriving.
func TestProgressNotifyInterval(t *testing.T) {
	c := newCluster(t, 1, "--watch-progress-notify-interval=200ms")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := c.client(c.endpoints()...)
	put, err := cli.Put(ctx, "other", "x")
	if err != nil {
		t.Fatal(err)
	}
	wc := cli.Watch(ctx, "idle", clientv3.WithProgressNotify())
	for got := 0; got < 3; {
		select {
		case resp, ok := <-wc:
			if !ok {
				t.Fatalf("watch closed after %d notifications: %v", got, ctx.Err())
			}
			if !resp.IsProgressNotify() {
				t.Fatalf("unexpected watch response %+v", resp)
			}
			if resp.Header.Revision < put.Header.Revision {
				t.Fatalf("progress at revision %d, before the put's %d", resp.Header.Revision, put.Header.Revision)
			}
			got++
		case <-ctx.Done():
			t.Fatalf("%d progress notifications, want 3", got)
		}
	}
}

// TestAutoCompactionPeriodic keeps one second of history: the leader
// compacts away the revisions older than that.
func TestAutoCompactionPeriodic(t *testing.T) {
	c := newCluster(t, 3, "--auto-compaction-mode=periodic", "--auto-compaction-retention=1s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := c.client(c.endpoints()...)
	first, err := cli.Put(ctx, "k", "1")
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		if _, err := cli.Put(ctx, "k", "again"); err != nil {
			t.Fatal(err)
		}
		_, err := cli.Get(ctx, "k", clientv3.WithRev(first.Header.Revision))
		if errors.Is(err, rpctypes.ErrCompacted) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("revision never compacted")
}
