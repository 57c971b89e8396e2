package checker

import "testing"

// A compaction changes no key and no revision; its answer depends on the
// floor earlier compactions left, so the model must carry that floor.
func TestCompactHistories(t *testing.T) {
	base := func() *hb {
		return (&hb{}).
			ok(0, 0, 1, put("x", "a"), wrote(2)).
			ok(0, 2, 3, put("x", "b"), wrote(3))
	}
	cases := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"compact keeps keys and revision", base().
			ok(0, 4, 5, compact(2), Output{Revision: 3}).
			ok(0, 6, 7, get("x"), found(3, kv("x", "b", 3, 2, 2))).
			ok(0, 8, 9, put("x", "c"), wrote(4)).
			ok(0, 10, 11, get("x"), found(4, kv("x", "c", 4, 2, 3))).ops, Pass},
		{"second compaction at the floor is refused", base().
			ok(0, 4, 5, compact(3), Output{Revision: 3}).
			ok(0, 6, 7, compact(2), Output{Compacted: true}).ops, Pass},
		{"the floor survives writes", base().
			ok(0, 4, 5, compact(3), Output{Revision: 3}).
			ok(0, 6, 7, put("x", "c"), wrote(4)).
			ok(0, 8, 9, del("x"), deleted(5, 1)).
			ok(0, 10, 11, compact(3), Output{Revision: 5}).ops, Fail},
		{"compaction at the floor cannot succeed twice", base().
			ok(0, 4, 5, compact(3), Output{Revision: 3}).
			ok(0, 6, 7, compact(3), Output{Revision: 3}).ops, Fail},
		{"refused as compacted with no floor", base().
			ok(0, 4, 5, compact(2), Output{Compacted: true}).ops, Fail},
		{"future revision", base().
			ok(0, 4, 5, compact(4), Output{FutureRev: true}).ops, Pass},
		{"future revision refused once reached", base().
			ok(0, 4, 5, compact(3), Output{FutureRev: true}).ops, Fail},
		{"compact changes the revision", base().
			ok(0, 4, 5, compact(2), Output{Revision: 4}).ops, Fail},
		{"timed-out compaction may have raised the floor", base().
			open(1, 4, compact(3)).
			ok(0, 6, 7, compact(2), Output{Compacted: true}).ops, Pass},
		{"concurrent compactions, one refused", base().
			ok(0, 4, 9, compact(2), Output{Compacted: true}).
			ok(1, 5, 8, compact(3), Output{Revision: 3}).ops, Pass},
		{"a read cannot answer compacted", base().
			ok(0, 4, 5, get("x"), Output{Revision: 3, Compacted: true}).ops, Fail},
	}
	for _, c := range cases {
		if got := verdict(t, c.ops); got != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, got, c.want)
		}
	}
}
