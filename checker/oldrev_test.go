package checker

import "testing"

func getAt(k string, rev int64) Input { return Input{Kind: Get, Key: k, Revision: rev} }
func rangeAt(k, end string, rev int64) Input {
	return Input{Kind: Range, Key: k, End: end, Revision: rev}
}

// Reads at an old revision see the key space as it was then, with the
// current revision in the header; below the compacted floor they are
// refused, the floor itself stays readable, and above the current revision
// they are refused as future.
func TestOldRevisionHistories(t *testing.T) {
	base := func() *hb {
		return (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, put("x", "b"), wrote(3)).
			ok(0, 4, 5, del("x"), deleted(4, 1)).
			ok(0, 6, 7, put("x", "c"), wrote(5)).
			ok(0, 8, 9, put("y", "d"), wrote(6))
	}
	compacted := Output{Compacted: true}
	future := Output{FutureRev: true}
	cases := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"first version", base().ok(0, 10, 11, getAt("x", 2), found(6, kv("x", "a", 2, 2, 1))).ops, Pass},
		{"second version", base().ok(0, 10, 11, getAt("x", 3), found(6, kv("x", "b", 3, 2, 2))).ops, Pass},
		{"deleted then", base().ok(0, 10, 11, getAt("x", 4), missing(6)).ops, Pass},
		{"new generation", base().ok(0, 10, 11, getAt("x", 5), found(6, kv("x", "c", 5, 5, 1))).ops, Pass},
		{"before the first write", base().ok(0, 10, 11, getAt("x", 1), missing(6)).ops, Pass},
		{"current revision", base().ok(0, 10, 11, getAt("y", 6), found(6, kv("y", "d", 6, 6, 1))).ops, Pass},
		{"newest instead of old", base().ok(0, 10, 11, getAt("x", 3), found(6, kv("x", "c", 5, 5, 1))).ops, Fail},
		{"old generation's create revision", base().ok(0, 10, 11, getAt("x", 5), found(6, kv("x", "c", 5, 2, 3))).ops, Fail},
		{"through the tombstone", base().ok(0, 10, 11, getAt("x", 4), found(6, kv("x", "b", 3, 2, 2))).ops, Fail},
		{"header is the old revision", base().ok(0, 10, 11, getAt("x", 2), found(2, kv("x", "a", 2, 2, 1))).ops, Fail},
		{"future", base().ok(0, 10, 11, getAt("x", 7), future).ops, Pass},
		{"future once reached", base().ok(0, 10, 11, getAt("x", 6), future).ops, Fail},
		{"future answered", base().ok(0, 10, 11, getAt("x", 7), found(6, kv("x", "c", 5, 5, 1))).ops, Fail},
		{"compacted with no floor", base().ok(0, 10, 11, getAt("x", 2), compacted).ops, Fail},
		{"floor readable", base().
			ok(0, 10, 11, compact(3), Output{Revision: 6}).
			ok(0, 12, 13, getAt("x", 3), found(6, kv("x", "b", 3, 2, 2))).ops, Pass},
		{"floor refused", base().
			ok(0, 10, 11, compact(3), Output{Revision: 6}).
			ok(0, 12, 13, getAt("x", 3), compacted).ops, Fail},
		{"below the floor refused", base().
			ok(0, 10, 11, compact(3), Output{Revision: 6}).
			ok(0, 12, 13, rangeAt("x", "z", 2), compacted).ops, Pass},
		{"below the floor answered", base().
			ok(0, 10, 11, compact(3), Output{Revision: 6}).
			ok(0, 12, 13, getAt("x", 2), found(6, kv("x", "a", 2, 2, 1))).ops, Fail},
		{"a concurrent compaction may refuse", base().
			ok(1, 10, 15, compact(4), Output{Revision: 6}).
			ok(0, 12, 13, getAt("x", 3), compacted).ops, Pass},
		{"range between generations", base().ok(0, 10, 11, rangeAt("x", "z", 4), Output{Revision: 6}).ops, Pass},
		{"range at the first", base().ok(0, 10, 11, rangeAt("", "", 3),
			Output{Revision: 6, KVs: []KV{kv("x", "b", 3, 2, 2)}}).ops, Pass},
		{"range misses a later key", base().ok(0, 10, 11, rangeAt("", "", 5),
			Output{Revision: 6, KVs: []KV{kv("x", "c", 5, 5, 1), kv("y", "d", 6, 6, 1)}}).ops, Fail},
		{"range span", base().ok(0, 10, 11, rangeAt("y", "z", 6),
			Output{Revision: 6, KVs: []KV{kv("y", "d", 6, 6, 1)}}).ops, Pass},
		{"limit", base().ok(0, 10, 11, Input{Kind: Range, Revision: 6, Limit: 1},
			Output{Revision: 6, KVs: []KV{kv("x", "c", 5, 5, 1)}, Count: 2, More: true}).ops, Pass},
		{"limit without more", base().ok(0, 10, 11, Input{Kind: Range, Revision: 6, Limit: 1},
			Output{Revision: 6, KVs: []KV{kv("x", "c", 5, 5, 1)}, Count: 2}).ops, Fail},
		{"limit not reached", base().ok(0, 10, 11, Input{Kind: Range, Revision: 5, Limit: 2},
			Output{Revision: 6, KVs: []KV{kv("x", "c", 5, 5, 1)}, Count: 1}).ops, Pass},
		{"count only", base().ok(0, 10, 11, Input{Kind: Range, Revision: 3, CountOnly: true},
			Output{Revision: 6, Count: 1}).ops, Pass},
		{"count only, wrong count", base().ok(0, 10, 11, Input{Kind: Range, Revision: 4, CountOnly: true},
			Output{Revision: 6, Count: 1}).ops, Fail},
	}
	for _, c := range cases {
		if got := verdict(t, c.ops); got != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, got, c.want)
		}
	}
}

// Two deletions of different keys in either order leave the same keys at
// the same revision; only a read between them tells the orders apart, so
// the model's state must include the history or the search would merge
// them and lose one.
func TestOldRevisionOrdersOfDeletes(t *testing.T) {
	base := func() *hb {
		return (&hb{}).
			ok(0, 0, 1, put("a", "1"), wrote(2)).
			ok(0, 2, 3, put("b", "2"), wrote(3)).
			open(1, 4, del("a")).
			open(2, 4, del("b")).
			ok(0, 10, 11, rangeP(""), Output{Revision: 5})
	}
	for _, c := range []struct {
		name string
		at4  []KV
		want Verdict
	}{
		{"a deleted first", []KV{kv("b", "2", 3, 3, 1)}, Pass},
		{"b deleted first", []KV{kv("a", "1", 2, 2, 1)}, Pass},
		{"both present at 4", []KV{kv("a", "1", 2, 2, 1), kv("b", "2", 3, 3, 1)}, Fail},
	} {
		ops := base().
			ok(0, 12, 13, rangeAt("", "", 4), Output{Revision: 5, KVs: c.at4}).
			ok(0, 14, 15, rangeAt("", "", 4), Output{Revision: 5, KVs: c.at4}).ops
		if got := verdict(t, ops); got != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSameChangesStopsAtTheFloor(t *testing.T) {
	s := &state{rev: 1}
	ab := s.put("a", "1").put("b", "2").del("a").del("b")
	ba := s.put("a", "1").put("b", "2").del("b").del("a")
	if sameChanges(ab.undo, ba.undo, 3) {
		t.Errorf("histories that differ at revision 4 compare equal above floor 3")
	}
	if !sameChanges(ab.undo, ba.undo, 5) {
		t.Errorf("histories equal above floor 5 compare unequal")
	}
	if !sameChanges(ab.undo, ab.undo, 0) {
		t.Errorf("a history differs from itself")
	}
}
