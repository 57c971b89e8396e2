package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// httpClient is the curl of these tests: plain HTTP/1.1 on the client port.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// answer is one HTTP exchange as a test compares it.
type answer struct {
	Status int
	Body   string
	JSON   any    // the body parsed, when it is JSON
	CORS   string // the Access-Control-Allow-* headers
}

func do(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	a := answer{Status: resp.StatusCode, Body: string(b), CORS: fmt.Sprint(
		resp.Header.Values("Access-Control-Allow-Origin"), resp.Header.Values("Access-Control-Allow-Methods"),
		resp.Header.Values("Access-Control-Allow-Headers"))}
	_ = json.Unmarshal(b, &a.JSON)
	return a
}

// normalize replaces the values that differ between two fresh single-member
// clusters by construction (IDs, terms) with "*", so the rest compares
// exactly: field names, nesting, types and every other value.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "cluster_id", "member_id", "raft_term":
				out[k] = "*"
			default:
				out[k] = normalize(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// startEmbeddedEtcd starts a one-member etcd in process and returns its
// client URL; it serves gRPC and HTTP on it as the real etcd does.
func startEmbeddedEtcd(t *testing.T) string {
	t.Helper()
	ports := freePorts(t, 2)
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg := embed.NewConfig()
	cfg.Name = "etcd"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
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
	return cu.String()
}

// httpSession runs the same requests against one server and returns the
// answers by name, normalized.
func httpSession(t *testing.T, base string) map[string]answer {
	t.Helper()
	out := map[string]answer{}
	for _, path := range []string{"/health", "/livez", "/readyz", "/version"} {
		out["GET "+path] = do(t, "GET", base+path, "")
	}
	out["POST /health"] = do(t, "POST", base+"/health", "")
	out["GET /readyz?verbose"] = do(t, "GET", base+"/readyz?verbose", "")
	out["GET /livez?verbose"] = do(t, "GET", base+"/livez?verbose", "")
	out["OPTIONS /v3/kv/put"] = do(t, "OPTIONS", base+"/v3/kv/put", "")
	out["put"] = do(t, "POST", base+"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("foo"), b64("bar")))
	out["put prev_kv"] = do(t, "POST", base+"/v3/kv/put",
		fmt.Sprintf(`{"key":%q,"value":%q,"prev_kv":true}`, b64("foo"), b64("baz")))
	out["range"] = do(t, "POST", base+"/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64("foo")))
	out["range prefix"] = do(t, "POST", base+"/v3/kv/range",
		fmt.Sprintf(`{"key":%q,"range_end":%q,"keys_only":true}`, b64("f"), b64("g")))
	out["range empty key"] = do(t, "POST", base+"/v3/kv/range", `{}`)
	out["lease grant"] = do(t, "POST", base+"/v3/lease/grant", `{"TTL":60,"ID":7}`)
	out["txn"] = do(t, "POST", base+"/v3/kv/txn", fmt.Sprintf(
		`{"compare":[{"key":%q,"result":"EQUAL","target":"VALUE","value":%q}],"success":[{"request_range":{"key":%q}}]}`,
		b64("foo"), b64("baz"), b64("foo")))
	out["delete"] = do(t, "POST", base+"/v3/kv/deleterange", fmt.Sprintf(`{"key":%q}`, b64("foo")))
	for k, a := range out {
		a.JSON = normalize(a.JSON)
		out[k] = a
	}
	return out
}

// TestHTTPMatchesEtcd sends the same curl-like requests to the metastore
// binary's client port and to an embedded etcd's, and compares the answers:
// status codes, bodies, and for JSON every field but IDs and terms.
func TestHTTPMatchesEtcd(t *testing.T) {
	c := newCluster(t, 1)
	ms := "http://" + c.members[0].client
	etcd := startEmbeddedEtcd(t)

	got, want := httpSession(t, ms), httpSession(t, etcd)
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		g, w := got[k], want[k]
		if k == "GET /version" {
			// Same fields; the patch releases may differ.
			gv, _ := g.JSON.(map[string]any)
			wv, _ := w.JSON.(map[string]any)
			if g.Status != 200 || len(gv) != len(wv) || !strings.HasPrefix(fmt.Sprint(gv["etcdserver"]), "3.7.") ||
				gv["etcdcluster"] != wv["etcdcluster"] || gv["storage"] != wv["storage"] {
				t.Errorf("%s: metastore %d %s, etcd %d %s", k, g.Status, g.Body, w.Status, w.Body)
			}
			continue
		}
		same := g.Status == w.Status && g.CORS == w.CORS
		if strings.Contains(k, "verbose") {
			// etcd prints the checks in map order, which varies.
			same = same && sortedLines(g.Body) == sortedLines(w.Body)
		} else if w.JSON != nil {
			same = same && reflect.DeepEqual(g.JSON, w.JSON)
		} else {
			same = same && g.Body == w.Body
		}
		if !same {
			t.Errorf("%s:\n  metastore %d %q %s\n  etcd      %d %q %s", k, g.Status, g.Body, g.CORS, w.Status, w.Body, w.CORS)
		}
	}

	// /metrics is Prometheus text on both. NB: the metric names are
	// MetaStore's own (net/metrics), not etcd's, beyond the Go and process
	// collectors both have.
	for name, base := range map[string]string{"metastore": ms, "etcd": etcd} {
		leader := map[string]string{"metastore": "raft_has_leader 1", "etcd": "etcd_server_has_leader 1"}[name]
		resp, err := httpClient.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s /metrics: %d %s", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, metric := range []string{leader, "process_open_fds", "go_goroutines"} {
			if !strings.Contains(string(b), metric) {
				t.Errorf("%s /metrics lacks %q", name, metric)
			}
		}
	}

	// /debug/vars: the same expvars.
	for name, base := range map[string]string{"metastore": ms, "etcd": etcd} {
		a := do(t, "GET", base+"/debug/vars", "")
		vars, _ := a.JSON.(map[string]any)
		if a.Status != 200 || vars["cmdline"] == nil || vars["memstats"] == nil {
			t.Errorf("%s /debug/vars: %d %.200s", name, a.Status, a.Body)
		}
	}

	// A streamed watch: the created response, then an event per put.
	gw, ww := watchSession(t, ms), watchSession(t, etcd)
	if !reflect.DeepEqual(gw, ww) {
		t.Errorf("/v3/watch:\n  metastore %v\n  etcd      %v", gw, ww)
	}
}

// watchSession opens a streamed /v3/watch on key w, puts w twice through
// /v3/kv/put and returns the first three streamed results, normalized, with
// the revisions made relative to the watch's creation.
func watchSession(t *testing.T, base string) []any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := fmt.Sprintf(`{"create_request":{"key":%q,"prev_kv":true}}`, b64("w"))
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v3/watch", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	var out []any
	var created float64
	for i := 0; i < 3; i++ {
		line, err := lines.ReadBytes('\n')
		if err != nil {
			t.Fatalf("watch on %s: after %d results: %v", base, i, err)
		}
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("watch result %q: %v", line, err)
		}
		if i == 0 {
			put := do(t, "POST", base+"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("w"), b64("1")))
			put2 := do(t, "POST", base+"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("w"), b64("2")))
			if put.Status != 200 || put2.Status != 200 {
				t.Fatalf("puts during watch: %v %v", put, put2)
			}
			fmt.Sscan(fmt.Sprint(v["result"].(map[string]any)["header"].(map[string]any)["revision"]), &created)
		}
		out = append(out, relativeRevisions(normalize(v), created))
	}
	return out
}

// relativeRevisions rewrites every revision-like string field as its
// distance from base, so two servers whose histories start differently
// compare.
func relativeRevisions(v any, base float64) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "revision", "create_revision", "mod_revision":
				var n float64
				fmt.Sscan(fmt.Sprint(e), &n)
				x[k] = n - base
			default:
				x[k] = relativeRevisions(e, base)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = relativeRevisions(e, base)
		}
	}
	return v
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
