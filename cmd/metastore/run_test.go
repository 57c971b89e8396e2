package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"metastore/net/config"
)

// testConfig is a single member on ephemeral loopback ports.
func testConfig(t *testing.T, dir string) *config.Config {
	cfg := config.Default()
	cfg.Name = "t1"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.ListenClientURLs = config.URLs{"http://127.0.0.1:0"}
	cfg.ListenPeerURLs = config.URLs{"http://127.0.0.1:0"}
	cfg.ListenMetricsURLs = config.URLs{"http://127.0.0.1:0"}
	cfg.HeartbeatIntervalMs, cfg.ElectionTimeoutMs = 10, 100
	cfg.Resolve()
	return cfg
}

// TestRunServesAndRestarts builds the process as run does, writes through
// clientv3, stops it, and restarts it on the same data dir: the write is
// recovered (memory: from the snapshot and WAL; rocksdb: from its database).
func TestRunServesAndRestarts(t *testing.T) {
	for _, engine := range []string{"memory", "rocksdb"} {
		t.Run(engine, func(t *testing.T) { testRunServesAndRestarts(t, engine) })
	}
}

func testRunServesAndRestarts(t *testing.T, engine string) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for round := 0; round < 2; round++ {
		cfg := testConfig(t, dir)
		cfg.Engine = engine
		p, err := build(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		p.start()
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: []string{p.clientLis[0].Addr().String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if _, err := cli.Put(ctx, "durable", "yes"); err != nil {
				t.Fatal(err)
			}
		}
		get, err := cli.Get(ctx, "durable")
		if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "yes" {
			t.Fatalf("round %d: get = %+v, %v", round, get, err)
		}
		resp, err := http.Get("http://" + p.metricsLis[0].Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "grpc_requests_total") {
			t.Fatalf("metrics lack grpc_requests_total:\n%.500s", body)
		}
		cli.Close()
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunLeanGRPC serves plaintext clients with --experimental-lean-grpc:
// clientv3 calls and a watch reach the services through the same
// interceptors (the metrics count them), the JSON gateway still works (it
// dials the plain listener in process), and stop ends with clients gone.
func TestRunLeanGRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := testConfig(t, t.TempDir())
	cfg.ExperimentalLeanGRPC = true
	p, err := build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if p.leanSrv == nil {
		t.Fatal("the flag built no lean server")
	}
	p.start()
	addr := p.clientLis[0].Addr().String()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(ctx, "k", clientv3.WithCreatedNotify())
	if resp := <-wch; !resp.Created {
		t.Fatalf("watch: %+v", resp)
	}
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if ev := <-wch; len(ev.Events) != 1 || string(ev.Events[0].Kv.Value) != "v" {
		t.Fatalf("watch event: %+v", ev)
	}
	resp, err := http.Post("http://"+addr+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"aw=="}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"value":"dg=="`) {
		t.Fatalf("gateway range: %s", body)
	}
	resp, err = http.Get("http://" + p.metricsLis[0].Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `method="/etcdserverpb.KV/Put"`) {
		t.Fatalf("metrics do not count the Put:\n%.2000s", body)
	}
	cli.Close()
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
}
