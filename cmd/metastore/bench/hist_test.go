package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestBucketsTile checks that consecutive buckets cover the microseconds
// without gaps or overlaps and that every value lands in the bucket whose
// range holds it.
func TestBucketsTile(t *testing.T) {
	var next uint64
	for b := 0; b < numBuckets-1; b++ {
		lo, hi := bucketRange(b)
		if lo != next || hi <= lo {
			t.Fatalf("bucket %d = [%d,%d), want it to start at %d", b, lo, hi, next)
		}
		for _, v := range []uint64{lo, (lo + hi) / 2, hi - 1} {
			if got := bucketOf(v); got != b {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, b)
			}
		}
		if w := float64(hi - lo); lo >= subCount && w/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d,%d) wider than 1/%d of its values", b, lo, hi, subCount)
		}
		next = hi
	}
	if got := bucketOf(math.MaxUint64); got != numBuckets-1 {
		t.Errorf("bucketOf(max) = %d, want the last bucket", got)
	}
}

// TestQuantilesMatchSorted compares the histogram's percentiles with the
// exact ones of the same log-uniform sample (10 µs to 10 s), recorded into
// several histograms and merged as the bench merges its clients'.
func TestQuantilesMatchSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100_000
	vals := make([]time.Duration, n)
	parts := make([]Histogram, 7)
	var sum time.Duration
	for i := range vals {
		d := time.Duration(math.Exp(r.Float64()*math.Log(1e6)) * 10 * float64(time.Microsecond))
		vals[i] = d
		sum += d
		parts[i%len(parts)].Record(d)
	}
	var h Histogram
	for i := range parts {
		h.Merge(&parts[i])
	}
	slices.Sort(vals)
	if h.Count() != n || h.Min() != vals[0] || h.Max() != vals[n-1] || h.Mean() != sum/n {
		t.Fatalf("count %d min %v max %v mean %v; want %d %v %v %v",
			h.Count(), h.Min(), h.Max(), h.Mean(), n, vals[0], vals[n-1], sum/n)
	}
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(math.Ceil(q*n))-1]
		got := h.Quantile(q)
		// Within 0.4% of the value, or half a microsecond below 128 µs.
		if off := math.Abs(float64(got - exact)); off > max(0.004*float64(exact), 500) {
			rel := off / float64(exact)
			t.Errorf("q%.3f = %v, exact %v (off by %.2f%%)", q, got, exact, rel*100)
		}
	}
}

// TestQuantileSmallAndEmpty pins the rank rule on a sample small enough to
// reason about, exact microsecond values, and the empty histogram.
func TestQuantileSmallAndEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: q99 %v mean %v", h.Quantile(0.99), h.Mean())
	}
	for us := 1; us <= 100; us++ { // 1..100 µs, one each
		h.Record(time.Duration(us) * time.Microsecond)
	}
	want := map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 0.999: 100, 0.01: 1}
	for q, us := range want {
		// A bucket below 128 µs is one microsecond wide: its middle is us+0.5,
		// clamped to the maximum for the top value.
		w := min(us*time.Microsecond+time.Microsecond/2, 100*time.Microsecond)
		if got := h.Quantile(q); got != w {
			t.Errorf("q%v = %v, want %v", q, got, w)
		}
	}
	h.Record(-time.Second)
	if h.Min() != 0 {
		t.Errorf("a negative duration should count as zero, min = %v", h.Min())
	}
}
