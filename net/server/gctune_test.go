package server

import "testing"

// The GC policy: Go's default while the live heap is small, a fixed
// headroom above it, and never below the floor.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{20 << 20, 100},
		{64 << 20, 100},
		{128 << 20, 50},
		{256 << 20, 25},
		{4 << 30, 25},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}
