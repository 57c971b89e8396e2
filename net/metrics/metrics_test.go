package metrics

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// serveGRPC runs a gRPC server with m's options and one unary service.
func serveGRPC(t *testing.T, m *Metrics) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(m.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(m.CountConns(lis))
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestScrapeHasEveryMetric(t *testing.T) {
	m := New()
	conn := serveGRPC(t, m)
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	ObserveDuration(m.ProposeDuration, 3*time.Millisecond)
	ObserveDuration(m.ApplyDuration, 250*time.Microsecond)
	ObserveSince(m.FsyncDuration, time.Now())
	m.InflightMessages.Set(17)
	m.ObserveLeader(true, 2)
	m.ObserveLeader(true, 3)
	m.ObserveLeader(false, 3)

	code, body := scrape(t, m.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, name := range Names() {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
	for _, line := range []string{
		`grpc_request_duration_ms_count{method="/grpc.health.v1.Health/Check"} 1`,
		`grpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"} 1`,
		"grpc_active_connections 1",
		"raft_leader_changes_total 3",
		"raft_has_leader 0",
		"raft_inflight_messages 17",
		`raft_propose_duration_ms_bucket{le="5"} 1`,
		`raft_propose_duration_ms_bucket{le="2.5"} 0`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("scrape lacks %q", line)
		}
	}
	if strings.Contains(body, "memory_usage_bytes 0\n") {
		t.Error("memory_usage_bytes reads 0")
	}
}

func TestConnectionGaugeFallsWhenClientLeaves(t *testing.T) {
	m := New()
	conn := serveGRPC(t, m)
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// The server learns of the close asynchronously; wait for it, bounded.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := scrape(t, m.Handler(), "/metrics")
		if strings.Contains(body, "grpc_active_connections 0\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("grpc_active_connections never returned to 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadMemTotal(t *testing.T) {
	p := t.TempDir() + "/meminfo"
	if err := os.WriteFile(p, []byte("MemTotal:       2048 kB\nMemFree: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readMemTotal(p); got != 2048<<10 {
		t.Fatalf("got %d", got)
	}
	if got := readMemTotal(p + ".missing"); got != 0 {
		t.Fatalf("missing file: %d", got)
	}
}
