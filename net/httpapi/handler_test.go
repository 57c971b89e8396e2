package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// fakeMember is a Member whose state the test sets.
type fakeMember struct {
	mu      sync.Mutex
	alarms  []*pb.AlarmMember
	leader  uint64
	learner bool
	// readErr fails reads; linearErr fails only linearizable ones.
	readErr, linearErr error
	reads              []*pb.RangeRequest
}

func (f *fakeMember) Alarms() []*pb.AlarmMember { f.mu.Lock(); defer f.mu.Unlock(); return f.alarms }
func (f *fakeMember) Leader() uint64            { f.mu.Lock(); defer f.mu.Unlock(); return f.leader }
func (f *fakeMember) IsLearner() bool           { f.mu.Lock(); defer f.mu.Unlock(); return f.learner }
func (f *fakeMember) Range(_ context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, r)
	if f.readErr != nil {
		return nil, f.readErr
	}
	if !r.Serializable && f.linearErr != nil {
		return nil, f.linearErr
	}
	return &pb.RangeResponse{}, nil
}

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestHealth(t *testing.T) {
	m := &fakeMember{leader: 1}
	h := Handler(Options{Member: m, RequestTimeout: time.Second})
	for _, tc := range []struct {
		name   string
		setup  func()
		path   string
		code   int
		body   string
		method string
	}{
		{"healthy", func() {}, "/health", 200, `{"health":"true","reason":""}`, "GET"},
		{"post", func() {}, "/health", 405, "Method Not Allowed\n", "POST"},
		{"no leader", func() { m.leader = 0 }, "/health", 503, `{"health":"false","reason":"RAFT NO LEADER"}` + "\n", "GET"},
		{"no leader, serializable", func() { m.leader = 0 }, "/health?serializable=true", 200, `{"health":"true","reason":""}`, "GET"},
		{"nospace", func() { m.alarms = []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}} },
			"/health", 503, `{"health":"false","reason":"ALARM NOSPACE"}` + "\n", "GET"},
		{"nospace excluded", func() { m.alarms = []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}} },
			"/health?exclude=NOSPACE", 200, `{"health":"true","reason":""}`, "GET"},
		{"corrupt", func() { m.alarms = []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_CORRUPT}} },
			"/health?exclude=NOSPACE", 503, `{"health":"false","reason":"ALARM CORRUPT"}` + "\n", "GET"},
		{"read fails", func() { m.readErr = errors.New("etcdserver: request timed out") },
			"/health", 503, `{"health":"false","reason":"RANGE ERROR:etcdserver: request timed out"}` + "\n", "GET"},
	} {
		*m = fakeMember{leader: 1}
		tc.setup()
		code, body, hdr := get(t, h, tc.method, tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.body)
		}
		if tc.method == "POST" && hdr.Get("Allow") != "GET" {
			t.Errorf("%s: Allow %q", tc.name, hdr.Get("Allow"))
		}
	}
}

func TestLivezReadyz(t *testing.T) {
	m := &fakeMember{leader: 1}
	h := Handler(Options{Member: m})
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	want := "[+]data_corruption ok\n[+]linearizable_read ok\n[+]non_learner ok\n[+]serializable_read ok\nok\n"
	if code, body, _ := get(t, h, "GET", "/readyz?verbose"); code != 200 || body != want {
		t.Errorf("/readyz?verbose: %d %q", code, body)
	}

	m.linearErr = errors.New("etcdserver: request timed out")
	m.learner = true
	want = "[+]data_corruption ok\n[-]linearizable_read failed: etcdserver: request timed out\n" +
		"[-]non_learner failed: not supported for learner\n[+]serializable_read ok\n"
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 503 || body != want+"\n" {
		t.Errorf("/readyz failing: %d %q, want 503 %q", code, body, want+"\n")
	}
	if code, _, _ := get(t, h, "GET", "/readyz?exclude=linearizable_read&exclude=non_learner"); code != 200 {
		t.Errorf("/readyz with the failing checks excluded: %d", code)
	}
	if code, body, _ := get(t, h, "GET", "/readyz/serializable_read"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz/serializable_read: %d %q", code, body)
	}
	if code, _, _ := get(t, h, "GET", "/readyz/non_learner"); code != 503 {
		t.Errorf("/readyz/non_learner on a learner: %d", code)
	}
	// /livez only asks whether the member reads locally.
	if code, body, _ := get(t, h, "GET", "/livez?verbose"); code != 200 || body != "[+]serializable_read ok\nok\n" {
		t.Errorf("/livez: %d %q", code, body)
	}
	m.readErr = errors.New("stopped")
	if code, body, _ := get(t, h, "GET", "/livez"); code != 503 || !strings.Contains(body, "[-]serializable_read failed: stopped") {
		t.Errorf("/livez failing: %d %q", code, body)
	}
}

func TestVersionPprofAndPaths(t *testing.T) {
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "gateway "+r.URL.Path) })
	h := Handler(Options{ServerVersion: "3.7.3", Gateway: gw})
	if code, body, hdr := get(t, h, "GET", "/version"); code != 200 ||
		body != `{"etcdserver":"3.7.3","etcdcluster":"3.7.0","storage":"3.7.0"}` || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("/version: %d %q %v", code, body, hdr)
	}
	if _, body, _ := get(t, h, "POST", "/v3beta/kv/range"); body != "gateway /v3/kv/range" {
		t.Errorf("/v3beta/ not served as /v3/: %q", body)
	}
	for _, path := range []string{"/debug/pprof/", "/health", "/metrics"} {
		if code, _, _ := get(t, h, "GET", path); code != 404 {
			t.Errorf("%s served (%d) though not configured", path, code)
		}
	}
	if code, body, hdr := get(t, h, "OPTIONS", "/v3/kv/put"); code != 200 || body != "" || hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight OPTIONS: %d %q %v", code, body, hdr)
	}
	h = Handler(Options{EnablePprof: true})
	if code, body, _ := get(t, h, "GET", "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with pprof enabled: %d", code)
	}
}
