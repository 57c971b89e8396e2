package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// etcdctl's JSON output (-w json), as far as the tests read it.
type (
	jsonHeader struct {
		ClusterID uint64 `json:"cluster_id"`
		MemberID  uint64 `json:"member_id"`
		Revision  int64  `json:"revision"`
		RaftTerm  uint64 `json:"raft_term"`
	}
	jsonKV struct {
		Key            []byte `json:"key"`
		Value          []byte `json:"value"`
		CreateRevision int64  `json:"create_revision"`
		ModRevision    int64  `json:"mod_revision"`
		Version        int64  `json:"version"`
	}
	jsonRange struct {
		Header jsonHeader `json:"header"`
		Kvs    []jsonKV   `json:"kvs"`
		Count  int64      `json:"count"`
	}
	jsonWrite struct {
		Header jsonHeader `json:"header"`
	}
	jsonEndpointStatus struct {
		Endpoint string `json:"Endpoint"`
		Status   struct {
			Header           jsonHeader `json:"header"`
			Version          string     `json:"version"`
			DBSize           int64      `json:"dbSize"`
			Leader           uint64     `json:"leader"`
			RaftIndex        uint64     `json:"raftIndex"`
			RaftTerm         uint64     `json:"raftTerm"`
			RaftAppliedIndex uint64     `json:"raftAppliedIndex"`
		} `json:"Status"`
	}
)

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, s, err)
	}
	return v
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	if g := lines(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s printed %q, want %q", what, g, want)
	}
}

// TestEtcdctlSingleNode drives one member with the official etcdctl, one
// command family per subtest, and checks what it prints, on each engine.
func TestEtcdctlSingleNode(t *testing.T) {
	for _, engine := range []string{"memory", "rocksdb"} {
		t.Run(engine, func(t *testing.T) { testEtcdctlSingleNode(t, "--engine="+engine) })
	}
}

func testEtcdctlSingleNode(t *testing.T, args ...string) {
	c := newCluster(t, 1, args...)
	eps := c.endpoints()

	t.Run("put_get_prefix_rev_json", func(t *testing.T) {
		wantLines(t, "put", ctl(t, eps, "", "put", "fruit/apple", "red"), "OK")
		w := decode[jsonWrite](t, ctl(t, eps, "", "put", "fruit/apple", "green", "-w", "json"))
		ctl(t, eps, "", "put", "fruit/banana", "yellow")
		ctl(t, eps, "", "put", "fruitless", "no")

		wantLines(t, "get", ctl(t, eps, "", "get", "fruit/apple"), "fruit/apple", "green")
		wantLines(t, "get --prefix", ctl(t, eps, "", "get", "fruit/", "--prefix"),
			"fruit/apple", "green", "fruit/banana", "yellow")
		wantLines(t, "get --prefix --keys-only", ctl(t, eps, "", "get", "fruit", "--prefix", "--keys-only"),
			"fruit/apple", "fruit/banana", "fruitless")
		wantLines(t, "get --rev", ctl(t, eps, "", "get", "fruit/apple", "--rev="+strconv.FormatInt(w.Header.Revision-1, 10)),
			"fruit/apple", "red")

		r := decode[jsonRange](t, ctl(t, eps, "", "get", "fruit/apple", "-w", "json"))
		if r.Count != 1 || len(r.Kvs) != 1 {
			t.Fatalf("get -w json: %+v", r)
		}
		kv := r.Kvs[0]
		if string(kv.Key) != "fruit/apple" || string(kv.Value) != "green" || kv.Version != 2 ||
			kv.ModRevision != w.Header.Revision || kv.CreateRevision != w.Header.Revision-1 {
			t.Fatalf("get -w json: kv %+v, want green at mod %d, create %d, version 2", kv, w.Header.Revision, w.Header.Revision-1)
		}
		if r.Header.Revision < w.Header.Revision+2 || r.Header.MemberID == 0 || r.Header.ClusterID == 0 {
			t.Fatalf("get -w json: header %+v after the put at %d and two more", r.Header, w.Header.Revision)
		}
	})

	t.Run("del", func(t *testing.T) {
		ctl(t, eps, "", "put", "del/a", "1")
		ctl(t, eps, "", "put", "del/b", "2")
		ctl(t, eps, "", "put", "del/c", "3")
		wantLines(t, "del one", ctl(t, eps, "", "del", "del/a"), "1")
		wantLines(t, "del missing", ctl(t, eps, "", "del", "del/a"), "0")
		wantLines(t, "del --prefix --prev-kv", ctl(t, eps, "", "del", "del/", "--prefix", "--prev-kv"),
			"2", "del/b", "2", "del/c", "3")
		wantLines(t, "get after del", ctl(t, eps, "", "get", "del/", "--prefix"))
	})

	t.Run("txn", func(t *testing.T) {
		ctl(t, eps, "", "put", "txn/k", "v1")
		// Compares, blank line, success ops, blank line, failure ops, blank line.
		out := ctl(t, eps, "value(\"txn/k\") = \"v1\"\n\nput txn/k v2\nput txn/then yes\n\nput txn/else yes\n\n", "txn")
		wantLines(t, "txn (true)", out, "SUCCESS", "OK", "OK")
		out = ctl(t, eps, "value(\"txn/k\") = \"v1\"\nmod(\"txn/k\") > \"0\"\n\nput txn/then again\n\nput txn/else yes\nget txn/k\n\n", "txn")
		wantLines(t, "txn (false)", out, "FAILURE", "OK", "txn/k", "v2")
		wantLines(t, "get after txns", ctl(t, eps, "", "get", "txn/", "--prefix"),
			"txn/else", "yes", "txn/k", "v2", "txn/then", "yes")
		// A missing key has create revision 0.
		out = ctl(t, eps, "create(\"txn/new\") = \"0\"\n\nput txn/new created\n\n\n", "txn", "-w", "json")
		resp := decode[struct {
			Succeeded bool `json:"succeeded"`
		}](t, out)
		if !resp.Succeeded {
			t.Fatalf("txn create==0 on a missing key did not succeed: %s", out)
		}
	})

	t.Run("watch", func(t *testing.T) {
		w := startCtl(t, eps, "watch", "watch/k")
		// Give the watch time to be created: a put before it would be missed.
		time.Sleep(500 * time.Millisecond)
		ctl(t, eps, "", "put", "watch/k", "v1")
		ctl(t, eps, "", "put", "watch/other", "x")
		ctl(t, eps, "", "del", "watch/k")
		var got []string
		for range 6 {
			got = append(got, w.next(t, 10*time.Second))
		}
		want := []string{"PUT", "watch/k", "v1", "DELETE", "watch/k", ""}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("watch printed %q, want %q", got, want)
		}
		// A watch from an old revision replays history, prefix-wide.
		r := decode[jsonRange](t, ctl(t, eps, "", "get", "watch/k", "-w", "json"))
		h := startCtl(t, eps, "watch", "watch/", "--prefix", "--rev=1")
		var replay []string
		for range 9 {
			replay = append(replay, h.next(t, 10*time.Second))
		}
		want = []string{"PUT", "watch/k", "v1", "PUT", "watch/other", "x", "DELETE", "watch/k", ""}
		if strings.Join(replay, "|") != strings.Join(want, "|") {
			t.Fatalf("watch --rev=1 (store at %d) printed %q, want %q", r.Header.Revision, replay, want)
		}
	})

	t.Run("lease", func(t *testing.T) {
		out := ctl(t, eps, "", "lease", "grant", "60")
		var id string
		if _, err := fmt.Sscanf(out, "lease %s granted with TTL(60s)", &id); err != nil {
			t.Fatalf("lease grant printed %q: %v", out, err)
		}
		wantLines(t, "put --lease", ctl(t, eps, "", "put", "lease/k", "v", "--lease="+id), "OK")
		out = ctl(t, eps, "", "lease", "timetolive", id, "--keys")
		if !strings.Contains(out, "lease "+id+" granted with TTL(60s), remaining(") || !strings.Contains(out, "attached keys([lease/k])") {
			t.Fatalf("lease timetolive printed %q", out)
		}
		wantLines(t, "keep-alive --once", ctl(t, eps, "", "lease", "keep-alive", "--once", id),
			fmt.Sprintf("lease %s keepalived with TTL(60)", id))
		if out := ctl(t, eps, "", "lease", "list"); !strings.Contains(out, id) {
			t.Fatalf("lease list printed %q, want %s in it", out, id)
		}
		wantLines(t, "revoke", ctl(t, eps, "", "lease", "revoke", id), fmt.Sprintf("lease %s revoked", id))
		wantLines(t, "get after revoke", ctl(t, eps, "", "get", "lease/k"))
		out = ctl(t, eps, "", "lease", "timetolive", id)
		if !strings.Contains(out, "already expired") {
			t.Fatalf("timetolive of a revoked lease printed %q", out)
		}
	})

	t.Run("lock", func(t *testing.T) {
		wantLines(t, "lock -- echo", ctl(t, eps, "", "lock", "mylock", "--", "echo", "held"), "held")
		holder := startCtl(t, eps, "lock", "mylock")
		if key := holder.next(t, 10*time.Second); !strings.HasPrefix(key, "mylock/") {
			t.Fatalf("lock printed %q, want its key under mylock/", key)
		}
		waiter := startCtl(t, eps, "lock", "mylock", "--", "echo", "second")
		waiter.quiet(t, time.Second) // mutual exclusion: it must wait
		holder.interrupt(t)
		if got := waiter.next(t, 10*time.Second); got != "second" {
			t.Fatalf("second locker printed %q, want %q", got, "second")
		}
	})

	t.Run("elect", func(t *testing.T) {
		first := startCtl(t, eps, "elect", "myelection", "p1")
		if key := first.next(t, 10*time.Second); !strings.HasPrefix(key, "myelection/") {
			t.Fatalf("elect printed %q, want the leader key", key)
		}
		if v := first.next(t, 5*time.Second); v != "p1" {
			t.Fatalf("elect printed value %q, want p1", v)
		}
		observer := startCtl(t, eps, "elect", "-l", "myelection")
		observer.next(t, 10*time.Second) // key
		if v := observer.next(t, 5*time.Second); v != "p1" {
			t.Fatalf("observer saw %q, want p1", v)
		}
		second := startCtl(t, eps, "elect", "myelection", "p2")
		second.quiet(t, time.Second) // p1 leads: p2 campaigns in line
		first.interrupt(t)           // resigns
		second.next(t, 10*time.Second)
		if v := second.next(t, 5*time.Second); v != "p2" {
			t.Fatalf("second candidate printed %q, want p2", v)
		}
		observer.next(t, 10*time.Second)
		if v := observer.next(t, 5*time.Second); v != "p2" {
			t.Fatalf("observer saw %q after the resignation, want p2", v)
		}
	})

	t.Run("member_list", func(t *testing.T) {
		m := c.members[0]
		out := ctl(t, eps, "", "member", "list")
		l := lines(out)
		if len(l) != 1 || !strings.HasSuffix(l[0], fmt.Sprintf(", started, %s, http://%s, http://%s, false", m.name, m.peer, m.client)) {
			t.Fatalf("member list printed %q", out)
		}
	})

	t.Run("endpoint_status_health", func(t *testing.T) {
		st := decode[[]jsonEndpointStatus](t, ctl(t, eps, "", "endpoint", "status", "-w", "json"))
		if len(st) != 1 {
			t.Fatalf("endpoint status: %+v", st)
		}
		s := st[0].Status
		if st[0].Endpoint != eps[0] || s.Leader == 0 || s.Leader != s.Header.MemberID || s.Version != "3.7.3" ||
			s.RaftIndex == 0 || s.RaftAppliedIndex != s.RaftIndex || s.RaftTerm == 0 || s.Header.Revision < 2 {
			t.Fatalf("endpoint status: %+v", st[0])
		}
		if out := ctl(t, eps, "", "endpoint", "health"); !strings.Contains(out, eps[0]+" is healthy") {
			t.Fatalf("endpoint health printed %q", out)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + c.members[0].metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
		}
		// Every write so far was synced and applied: both histograms count.
		for _, name := range []string{"storage_fsync_duration_ms_count", "raft_apply_duration_ms_count",
			"raft_propose_duration_ms_count"} {
			n := metricValue(string(body), name)
			if n < 1 {
				t.Errorf("%s is %v after the writes above", name, n)
			}
		}
		if metricValue(string(body), "raft_has_leader") != 1 {
			t.Errorf("raft_has_leader is not 1")
		}
	})

	t.Run("defrag", func(t *testing.T) {
		// RocksDB compacts its whole key space; memory has nothing to do.
		// Either way the data stays.
		ctl(t, eps, "", "put", "defrag/k", "v")
		out := ctl(t, eps, "", "defrag")
		if !strings.Contains(out, "Finished defragmenting etcd member") {
			t.Fatalf("defrag printed %q", out)
		}
		wantLines(t, "get after defrag", ctl(t, eps, "", "get", "defrag/k"), "defrag/k", "v")
	})

	t.Run("snapshot_save", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "snap.db")
		out := ctl(t, eps, "", "snapshot", "save", path)
		if !strings.Contains(out, "Snapshot saved at "+path) {
			t.Fatalf("snapshot save printed %q", out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// etcd's format: the data, then the sha256 of the data.
		n := len(b) - sha256.Size
		if n <= 0 {
			t.Fatalf("snapshot is %d bytes", len(b))
		}
		if sum := sha256.Sum256(b[:n]); !bytes.Equal(sum[:], b[n:]) {
			t.Fatalf("snapshot's trailing sha256 does not match its %d bytes of data", n)
		}
	})
}

// metricValue returns the value of the unlabelled sample name in a
// Prometheus text exposition, -1 if absent.
func metricValue(body, name string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
