package checker

import (
	"strings"
	"testing"
)

// wantErr fails unless err is nil (no parts given) or mentions every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if len(parts) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestAppliedPrefixes(t *testing.T) {
	e := func(i, term, h uint64) AppliedEntry {
		return AppliedEntry{Index: i, Term: term, Hash: h, StateHash: uint32(h * 7)}
	}
	good := map[uint64][]AppliedEntry{
		1: {e(1, 1, 10), e(2, 1, 20), e(3, 2, 30)},
		2: {e(1, 1, 10), e(2, 1, 20)},
		3: {e(3, 2, 30), e(4, 2, 40)}, // restored from a snapshot at 2
	}
	wantErr(t, AppliedPrefixes(good))

	bad := map[uint64][]AppliedEntry{
		1: {e(1, 1, 10), e(2, 1, 20)},
		2: {e(1, 1, 10), e(2, 2, 21)},
	}
	wantErr(t, AppliedPrefixes(bad), "index 2", "replica 1", "replica 2")

	state := map[uint64][]AppliedEntry{
		1: {e(1, 1, 10)},
		2: {{Index: 1, Term: 1, Hash: 10, StateHash: 99}},
	}
	wantErr(t, AppliedPrefixes(state), "state after index 1")

	order := map[uint64][]AppliedEntry{4: {e(2, 1, 20), e(2, 1, 20)}}
	wantErr(t, AppliedPrefixes(order), "replica 4", "index 2 after index 2")

	terms := map[uint64][]AppliedEntry{4: {e(1, 3, 10), e(2, 2, 20)}}
	wantErr(t, AppliedPrefixes(terms), "replica 4", "term 2")
}

func TestOneLeaderPerTerm(t *testing.T) {
	wantErr(t, OneLeaderPerTerm([]LeaderObs{{1, 1}, {1, 1}, {2, 3}, {3, 0}, {3, 2}}))
	wantErr(t, OneLeaderPerTerm([]LeaderObs{{5, 3}, {2, 1}, {5, 2}, {2, 1}}), "term 5", "[2 3]")
}

func TestHashesAgree(t *testing.T) {
	wantErr(t, HashesAgree(map[uint64]uint32{1: 7, 2: 7, 3: 7}))
	wantErr(t, HashesAgree(nil))
	wantErr(t, HashesAgree(map[uint64]uint32{3: 7, 1: 7, 2: 8}), "0x7 on replicas [1 3]", "0x8 on replicas [2]")
}

func TestAckedWritesExactlyOnce(t *testing.T) {
	applied := []AppliedWrite{
		{Revision: 2, Key: "a", Value: "1"},
		{Revision: 3, Key: "b", Value: "2"},
		{Revision: 4, Key: "a", Delete: true},
		{Revision: 5, Key: "a", Value: "3"}, // not acked (timed out): fine
	}
	acked := []AckedWrite{
		{Key: "b", Value: "2", Revision: 3},
		{Key: "a", Value: "1", Revision: 2},
		{Key: "a", Delete: true, Revision: 4},
	}
	wantErr(t, AckedWritesExactlyOnce(acked, applied))

	lost := append(acked, AckedWrite{Key: "c", Value: "9", Revision: 6})
	wantErr(t, AckedWritesExactlyOnce(lost, applied), `put("c", "9") acked at rev 6`, "never applied")

	moved := []AckedWrite{{Key: "b", Value: "2", Revision: 4}}
	wantErr(t, AckedWritesExactlyOnce(moved, applied), "applied at revision 3")

	twice := append(applied, AppliedWrite{Revision: 6, Key: "b", Value: "2"})
	wantErr(t, AckedWritesExactlyOnce(acked, twice), "applied 2 times", "[3 6]")

	noDelete := []AckedWrite{{Key: "b", Delete: true, Revision: 4}}
	wantErr(t, AckedWritesExactlyOnce(noDelete, applied), `delete("b") acked at rev 4`)

	backwards := []AppliedWrite{{Revision: 3, Key: "a"}, {Revision: 2, Key: "b"}}
	wantErr(t, AckedWritesExactlyOnce(nil, backwards), "goes back")
}

func TestAckedWritesFromHistory(t *testing.T) {
	ops := (&hb{}).
		ok(0, 0, 1, put("a", "1"), wrote(2)).
		ok(0, 2, 3, del("a"), deleted(3, 1)).
		ok(0, 4, 5, del("a"), deleted(3, 0)).
		ok(0, 6, 7, casMod("a", 0, "2"), cas(4, true)).
		ok(0, 8, 9, casMod("a", 0, "3"), cas(4, false)).
		open(0, 10, put("a", "4")).ops
	got := AckedWritesFromHistory(ops)
	want := []AckedWrite{{"a", "1", false, 2}, {"a", "", true, 3}, {"a", "2", false, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestDurable(t *testing.T) {
	applied := []AppliedWrite{
		{Revision: 2, Key: "a", Value: "1"},
		{Revision: 3, Key: "b", Value: "2"},
		{Revision: 4, Key: "a", Value: "3"},
		{Revision: 5, Key: "b", Delete: true},
		{Revision: 6, Key: "c", Value: "4"},
	}
	acked := []AckedWrite{
		{Key: "a", Value: "1", Revision: 2}, // superseded by rev 4
		{Key: "b", Value: "2", Revision: 3}, // deleted at rev 5
		{Key: "a", Value: "3", Revision: 4}, // final
		{Key: "b", Delete: true, Revision: 5},
		{Key: "c", Value: "4", Revision: 6},
	}
	final := map[string]KV{"a": kv("a", "3", 4, 2, 2), "c": kv("c", "4", 6, 6, 1)}
	wantErr(t, Durable(acked, applied, final))

	rolledBack := map[string]KV{"a": kv("a", "1", 2, 2, 1), "c": kv("c", "4", 6, 6, 1)}
	wantErr(t, Durable(acked, applied, rolledBack), `put("a", "3") acked at rev 4 is lost`, "older revision 2")

	vanished := map[string]KV{"a": kv("a", "3", 4, 2, 2)}
	wantErr(t, Durable(acked, applied, vanished), `put("c", "4") acked at rev 6 is lost`, "absent")

	phantom := map[string]KV{"a": kv("a", "x", 9, 2, 3), "c": kv("c", "4", 6, 6, 1)}
	wantErr(t, Durable(acked, applied, phantom), `superseded by "x" at revision 9`)

	resurrected := map[string]KV{"a": kv("a", "3", 4, 2, 2), "b": kv("b", "2", 3, 3, 1), "c": kv("c", "4", 6, 6, 1)}
	wantErr(t, Durable(acked, applied, resurrected), `delete("b") acked at rev 5 is lost`)
}

func TestRevisionsRespectRealTime(t *testing.T) {
	good := (&hb{}).
		ok(0, 0, 10, put("a", "1"), wrote(3)).
		ok(1, 1, 5, put("b", "2"), wrote(2)).
		ok(2, 5, 6, get("a"), missing(2)). // concurrent with both at t=5
		ok(2, 11, 12, get("a"), found(3, kv("a", "1", 3, 3, 1))).
		ok(1, 13, 14, del("zz"), deleted(3, 0)).ops
	wantErr(t, RevisionsRespectRealTime(good))

	stale := (&hb{}).
		ok(0, 0, 1, put("a", "1"), wrote(2)).
		ok(1, 2, 3, get("a"), missing(1)).ops
	wantErr(t, RevisionsRespectRealTime(stale), "went back", "op #1", "op #0")

	reused := (&hb{}).
		ok(0, 0, 1, get("a"), missing(2)).
		ok(1, 2, 3, put("a", "1"), wrote(2)).ops
	wantErr(t, RevisionsRespectRealTime(reused), "reused", "op #1", "op #0")
}

func TestCheckWatch(t *testing.T) {
	applied := []AppliedWrite{
		{Revision: 2, Key: "w/a", Value: "1"},
		{Revision: 3, Key: "x", Value: "outside"},
		{Revision: 4, Key: "w/a", Value: "2"},
		{Revision: 4, Key: "w/b", Value: "3"}, // one txn, two keys
		{Revision: 5, Key: "w/a", Delete: true},
		{Revision: 6, Key: "w/c", Value: "4"},
	}
	ev := func(rev int64, k, v string) WatchEvent { return WatchEvent{Revision: rev, Key: k, Value: v} }
	spec := WatchSpec{Key: "w/", End: PrefixEnd("w/"), FromRev: 2}
	first := []Delivery{
		{Events: []WatchEvent{ev(2, "w/a", "1")}},
		{Events: []WatchEvent{ev(4, "w/a", "2"), ev(4, "w/b", "3")}},
	}
	wantErr(t, CheckWatch(spec, first, applied))
	if NextRev(first, 2) != 5 || NextRev(nil, 2) != 2 {
		t.Fatalf("NextRev %d", NextRev(first, 2))
	}

	resumed := WatchSpec{Key: "w/", End: PrefixEnd("w/"), FromRev: NextRev(first, 2), Through: 6}
	suffix := []Delivery{{Events: []WatchEvent{{Revision: 5, Key: "w/a", Delete: true}, ev(6, "w/c", "4")}}}
	wantErr(t, CheckWatch(resumed, suffix, applied))
	wantErr(t, CheckWatch(resumed, suffix[:0], applied), "missed", `delete("w/a")@5`)
	repeat := []Delivery{{Events: []WatchEvent{ev(4, "w/b", "3")}}, suffix[0]}
	wantErr(t, CheckWatch(resumed, repeat, applied), "precedes start revision 5")

	split := []Delivery{
		{Events: []WatchEvent{ev(2, "w/a", "1"), ev(4, "w/a", "2")}},
		{Events: []WatchEvent{ev(4, "w/b", "3")}},
	}
	wantErr(t, CheckWatch(spec, split, applied), "revision 4 split across deliveries 0 and 1")

	gap := []Delivery{{Events: []WatchEvent{ev(4, "w/a", "2"), ev(4, "w/b", "3")}}}
	wantErr(t, CheckWatch(spec, gap, applied), "missed", `put("w/a", "1")@2`)

	partial := []Delivery{{Events: []WatchEvent{ev(2, "w/a", "1"), ev(4, "w/a", "2")}}}
	wantErr(t, CheckWatch(spec, partial, applied), "missed", `put("w/b", "3")@4`)

	unordered := []Delivery{{Events: []WatchEvent{ev(4, "w/a", "2"), ev(4, "w/b", "3"), ev(2, "w/a", "1")}}}
	wantErr(t, CheckWatch(spec, unordered, applied), "after an event at revision 4")

	dup := []Delivery{{Events: []WatchEvent{ev(2, "w/a", "1"), ev(2, "w/a", "1")}}}
	wantErr(t, CheckWatch(spec, dup, applied), "delivered twice")

	wrong := []Delivery{{Events: []WatchEvent{ev(2, "w/a", "999")}}}
	wantErr(t, CheckWatch(spec, wrong, applied), "applied change was")

	outside := []Delivery{{Events: []WatchEvent{ev(3, "x", "outside")}}}
	wantErr(t, CheckWatch(spec, outside, applied), "outside the watched range")

	single := WatchSpec{Key: "w/c", FromRev: 1, Through: 6}
	wantErr(t, CheckWatch(single, []Delivery{{Events: []WatchEvent{ev(6, "w/c", "4")}}}, applied))
}

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string]string{"w/": "w0", "a\xff": "b", "\xff": "\x00", "": "\x00"} {
		if got := PrefixEnd(in); got != want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}
