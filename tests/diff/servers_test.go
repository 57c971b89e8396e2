package diff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"metastore/core"
	"metastore/core/engine"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
	"metastore/net/server"
)

// freeURL reserves a loopback port long enough to learn its number. Another
// process could take it before the server binds it; on a test machine that
// race is rare enough not to matter.
func freeURL(t *testing.T) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return url.URL{Scheme: "http", Host: addr}
}

func newClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startEtcd starts a one-member embedded etcd with default settings (tick
// 100 ms, election 1 s, 1.5 MiB requests), logging discarded.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "diff"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cu, pu := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.BcryptCost = 4 // the auth cases hash many passwords; cost is not compared
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready within 30s")
	}
	return newClient(t, cu.String())
}

type dropNetwork struct{}

func (dropNetwork) Send([]*raftpb.Message) {}

// startMetaStore starts a one-member MetaStore in-process, assembled as
// cmd/metastore does (the named engine, real disk and clock) with
// production defaults: 100 ms ticks, 10-tick elections, so also etcd's 2 s
// minimum lease TTL.
func startMetaStore(t *testing.T, engineName string) *clientv3.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + lis.Addr().String()
	dir := filepath.Join(t.TempDir(), "member")
	var base engine.Engine = memory.New()
	if engineName == "rocksdb" {
		if base, err = rocksdb.Open(filepath.Join(dir, "rocksdb"), rocksdb.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	eng := server.NewSizedEngine(base)
	r, err := core.Open(core.Config{
		ID:      1,
		Peers:   []uint64{1},
		Dir:     dir,
		Disk:    realworld.OSDisk{},
		Clock:   realworld.NewClock(),
		Network: dropNetwork{},
		Engine:  eng,
		Rand:    rand.New(rand.NewPCG(1, 2)),
		// The production loop runs the append stage on its own goroutine.
		Pipeline: true,
	})
	if err != nil {
		t.Fatalf("open replica: %v", err)
	}
	node := server.NewNode(r, server.NodeConfig{TickInterval: 100 * time.Millisecond})
	srv := server.New(node, server.Config{
		Name:       "diff",
		ClusterID:  0xd1ff,
		ClientURLs: []string{endpoint},
		DBSize:     eng.Size,
		BcryptCost: 4,
	})
	g := grpc.NewServer(srv.GRPCOptions()...)
	srv.Register(g)
	node.Start()
	go g.Serve(lis)
	t.Cleanup(func() {
		g.Stop()
		srv.Close()
		node.Stop()
		if err := node.Err(); err != nil {
			t.Errorf("metastore replica failed: %v", err)
		}
		if err := base.Close(); err != nil {
			t.Errorf("close the %s engine: %v", engineName, err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for node.Status().Leader == 0 {
		if time.Now().After(deadline) {
			t.Fatal("metastore: no leader within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := newClient(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "ping"); err != nil {
		t.Fatal(fmt.Errorf("metastore not serving: %w", err))
	}
	return c
}
