package checker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func verdict(t *testing.T, ops []Op) Verdict {
	t.Helper()
	res, err := Linearizable(ops, Options{})
	if err != nil {
		t.Fatalf("Linearizable: %v", err)
	}
	return res.Verdict
}

func TestLinearizableHistories(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"concurrent puts, later invoked one first", (&hb{}).
			ok(0, 0, 10, put("x", "a"), wrote(3)).
			ok(1, 1, 9, put("x", "b"), wrote(2)).
			ok(0, 11, 12, get("x"), found(3, kv("x", "a", 3, 2, 2))).ops, Pass},
		{"concurrent puts, earlier invoked one first", (&hb{}).
			ok(0, 0, 10, put("x", "a"), wrote(2)).
			ok(1, 1, 9, put("x", "b"), wrote(3)).
			ok(0, 11, 12, get("x"), found(3, kv("x", "b", 3, 2, 2))).ops, Pass},
		{"read concurrent with a put may see either state", (&hb{}).
			ok(0, 0, 10, put("x", "a"), wrote(2)).
			ok(1, 1, 2, get("x"), missing(1)).
			ok(2, 3, 4, get("x"), found(2, kv("x", "a", 2, 2, 1))).ops, Pass},
		{"timed-out put that took effect", (&hb{}).
			open(0, 0, put("x", "a")).
			ok(1, 5, 6, get("x"), found(2, kv("x", "a", 2, 2, 1))).ops, Pass},
		{"timed-out put that did not take effect", (&hb{}).
			open(0, 0, put("x", "a")).
			ok(1, 5, 6, get("x"), missing(1)).
			ok(1, 7, 8, put("y", "b"), wrote(2)).ops, Pass},
		{"failed put is ignored", (&hb{}).
			failed(0, 0, 1, put("x", "a")).
			ok(1, 5, 6, get("x"), missing(1)).ops, Pass},
		{"cas, delete, range", (&hb{}).
			ok(0, 0, 1, put("k/a", "1"), wrote(2)).
			ok(0, 2, 3, casValue("k/a", "1", "2"), cas(3, true)).
			ok(0, 4, 5, casValue("k/a", "1", "3"), Output{Revision: 3, Found: true, KV: kv("", "2", 3, 2, 2)}).
			ok(0, 6, 7, casMod("k/b", 0, "4"), cas(4, true)).
			ok(0, 8, 9, del("k/zz"), deleted(4, 0)).
			ok(0, 10, 11, rangeP("k/"), Output{Revision: 4, KVs: []KV{kv("k/a", "2", 3, 2, 2), kv("k/b", "4", 4, 4, 1)}}).
			ok(0, 12, 13, del("k/a"), deleted(5, 1)).
			ok(0, 14, 15, get("k/a"), missing(5)).ops, Pass},

		{"stale read after a completed write", (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, put("x", "b"), wrote(3)).
			ok(1, 4, 5, get("x"), found(2, kv("x", "a", 2, 2, 1))).ops, Fail},
		{"read with current revision but old value", (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, put("x", "b"), wrote(3)).
			ok(1, 4, 5, get("x"), found(3, kv("x", "a", 2, 2, 1))).ops, Fail},
		{"put skips a revision", (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, put("x", "b"), wrote(4)).ops, Fail},
		{"two writes on different keys return the same revision", (&hb{}).
			ok(0, 0, 10, put("x", "a"), wrote(2)).
			ok(1, 0, 10, put("y", "b"), wrote(2)).ops, Fail},
		{"lost acknowledged write", (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(1, 2, 3, get("x"), missing(2)).ops, Fail},
		{"deleting a missing key must not create a revision", (&hb{}).
			ok(0, 0, 1, del("x"), deleted(2, 0)).ops, Fail},
		{"cas succeeded although its compare was false", (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, casValue("x", "zzz", "b"), cas(3, true)).ops, Fail},
		{"range misses a key", (&hb{}).
			ok(0, 0, 1, put("p/a", "1"), wrote(2)).
			ok(0, 2, 3, put("p/b", "2"), wrote(3)).
			ok(0, 4, 5, rangeP("p/"), Output{Revision: 3, KVs: []KV{kv("p/b", "2", 3, 3, 1)}}).ops, Fail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := verdict(t, c.ops); got != c.want {
				t.Errorf("verdict %v, want %v", got, c.want)
			}
		})
	}
}

func TestInitialRev(t *testing.T) {
	ops := (&hb{}).ok(0, 0, 1, put("x", "a"), wrote(101)).ops
	res, err := Linearizable(ops, Options{InitialRev: 100})
	if err != nil || res.Verdict != Pass {
		t.Fatalf("got %v, %v; want pass", res, err)
	}
	if v := verdict(t, ops); v != Fail {
		t.Fatalf("from a fresh store: %v, want fail", v)
	}
}

func TestResultCounts(t *testing.T) {
	ops := (&hb{}).
		ok(0, 0, 1, put("x", "a"), wrote(2)).
		failed(1, 0, 1, put("x", "b")).
		open(2, 0, get("x")).
		open(3, 0, put("x", "c")).ops
	res, err := Linearizable(ops, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Pass || res.Checked != 2 || res.Open != 1 || res.Dropped != 2 {
		t.Fatalf("got %+v", res)
	}
}

func TestMalformedHistory(t *testing.T) {
	ops := []Op{{ID: 7, Input: put("x", "a"), Output: Output{Revision: 2}, Invoke: 0, Return: 1}}
	if _, err := Linearizable(ops, Options{}); err == nil || !strings.Contains(err.Error(), "#7") {
		t.Fatalf("zero status: err %v, want one naming op #7", err)
	}
	ops = (&hb{}).ok(0, 5, 4, put("x", "a"), wrote(2)).ops
	if _, err := Linearizable(ops, Options{}); err == nil {
		t.Fatal("return before invoke accepted")
	}
}

func TestVisualizationOnFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	bad := (&hb{}).
		ok(0, 0, 1, put("x", "a"), wrote(2)).
		ok(1, 2, 3, get("x"), missing(1)).ops
	res, err := Linearizable(bad, Options{VisualizeDir: dir, Name: "seed 42"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Fail {
		t.Fatalf("verdict %v", res.Verdict)
	}
	want := filepath.Join(dir, "linearizability-seed_42.html")
	if res.Visualization != want {
		t.Fatalf("visualization at %q, want %q", res.Visualization, want)
	}
	data, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "<html") || !strings.Contains(string(data), `put(\"x\", \"a\")`) {
		t.Fatalf("visualization lacks html or the operation (%d bytes)", len(data))
	}

	good := bad[:1]
	res, err = Linearizable(good, Options{VisualizeDir: dir, Name: "good"})
	if err != nil || res.Verdict != Pass || res.Visualization != "" {
		t.Fatalf("passing history: %+v, %v", res, err)
	}
}

// TestTimeoutIsInconclusive builds a history whose search is exponential:
// n unanswered puts to distinct keys, all concurrent with a read that
// claims a value nobody wrote. Every ordered selection of the puts may
// precede the read and each yields a distinct state (revisions record the
// order), and all fail, so porcupine must explore more than n! states
// before it can say Illegal (n = 8 already takes about a second). With
// n = 40 that cannot finish within the timeout; the verdict must be
// Inconclusive, not Pass.
func TestTimeoutIsInconclusive(t *testing.T) {
	// Small enough to finish: the history is genuinely illegal.
	res, err := Linearizable(hardHistory(6), Options{})
	if err != nil || res.Verdict != Fail {
		t.Fatalf("n=6 without timeout: %v, %v; want fail", res, err)
	}
	res, err = Linearizable(hardHistory(40), Options{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Inconclusive {
		t.Fatalf("verdict %v, want inconclusive", res.Verdict)
	}
	if Inconclusive == Pass || res.Verdict.String() == Pass.String() {
		t.Fatal("inconclusive must be distinct from pass")
	}
}

func TestHistoryRecorder(t *testing.T) {
	var h History
	a := h.Invoke(3, put("x", "a"), 10)
	b := h.Invoke(4, put("x", "b"), 11)
	c := h.Invoke(5, get("x"), 12)
	d := h.Invoke(6, put("y", "c"), 13)
	h.Return(a, wrote(2), 20)
	h.Fail(b, 21)
	h.Timeout(d)
	ops := h.Ops()
	if len(ops) != 4 || h.Len() != 4 {
		t.Fatalf("%d ops", len(ops))
	}
	if ops[a].Output.Status != OK || ops[a].Return != 20 || ops[a].ClientID != 3 {
		t.Errorf("returned op: %v", ops[a])
	}
	if ops[b].Output.Status != Failed || ops[c].Output.Status != Unknown || ops[c].Return != Open {
		t.Errorf("failed/pending ops: %v / %v", ops[b], ops[c])
	}
	if ops[d].Output.Status != Unknown || ops[d].Return != Open {
		t.Errorf("timed-out op: %v", ops[d])
	}
	res, err := Linearizable(ops, Options{})
	if err != nil || res.Verdict != Pass {
		t.Fatalf("%v, %v", res, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("second completion did not panic")
		}
	}()
	h.Return(a, wrote(2), 30)
}

func hardHistory(n int) []Op {
	b := &hb{}
	for i := range n {
		b.open(i, int64(i), put(string(rune('A'+i)), "v"))
	}
	return b.ok(n, int64(n), int64(n+1), get("nobody"), found(2, kv("nobody", "wrote-this", 2, 2, 1))).ops
}
