package server

import (
	"math"
	"testing"
)

// The GC policy: a fixed headroom above the live heap, never above the
// ceiling (a small heap) nor below the floor (a huge one).
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1600},
		{2 << 20, 1600},
		{8 << 20, 800},
		{20 << 20, 320},
		{32 << 20, 200},
		{64 << 20, 100},
		{128 << 20, 50},
		{256 << 20, 25},
		{512 << 20, 12},
		{4 << 30, 10},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// GOGC follows a growing heap down at once and a shrinking one up past 5
// points or to the ceiling.
func TestGCPercentChange(t *testing.T) {
	for _, c := range []struct {
		cur, p int
		want   bool
	}{
		{100, 100, false},
		{20, 19, true},
		{20, 10, true},
		{20, 24, false},
		{20, 26, true},
		{1597, 1600, true},
		{97, 100, false},
	} {
		if got := gcPercentChange(c.cur, c.p); got != c.want {
			t.Errorf("gcPercentChange(%d, %d) = %v, want %v", c.cur, c.p, got, c.want)
		}
	}
}

// Past gcLimitFrom the live heap is bounded by a memory limit with GOGC as
// a looser backstop; below it there is no limit.
func TestGCPolicyFor(t *testing.T) {
	for _, c := range []struct {
		live      uint64
		percent   int
		limit     int64
		unlimited bool
	}{
		{64 << 20, 100, 0, true},
		{255 << 20, 25, 0, true},
		{256 << 20, 50, (256 + 200) << 20, false},
		{512 << 20, 24, (512 + 200) << 20, false},
		{4 << 30, 20, (4<<30 + 200<<20), false},
	} {
		p, limit := gcPolicyFor(c.live)
		if p != c.percent {
			t.Errorf("gcPolicyFor(%d MiB) percent = %d, want %d", c.live>>20, p, c.percent)
		}
		if c.unlimited && limit != math.MaxInt64 || !c.unlimited && limit != c.limit {
			t.Errorf("gcPolicyFor(%d MiB) limit = %d, want %d (unlimited %v)", c.live>>20, limit, c.limit, c.unlimited)
		}
	}
}
