package server

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The memory engine keeps the whole store on the Go heap, and Go's default
// GOGC=100 lets the heap grow to twice the live data before it collects:
// with a million keys that doubles the resident size. TuneGC bounds the
// headroom instead: the default while it is small, then a fixed
// gcHeadroomBytes (no less than gcPercentMin of the live heap). A large
// heap is mostly pointer-free records, and the request path allocates
// little per byte of live data, so collecting more often costs a few
// percent of a core, where the default costs hundreds of megabytes.
const (
	gcHeadroomBytes = 64 << 20
	gcPercentMin    = 25
	gcPercentMax    = 100
	gcTuneInterval  = 5 * time.Second
)

// gcPercentFor returns the GOGC value for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	return int(min(max(uint64(gcHeadroomBytes)*100/live, gcPercentMin), gcPercentMax))
}

// TuneGC adjusts GOGC to the live heap every gcTuneInterval until stop is
// closed, unless the operator chose a policy (GOGC or GOMEMLIMIT set).
func TuneGC(stop <-chan struct{}, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GC tuning left to GOGC/GOMEMLIMIT")
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := gcPercentMax
	t := time.NewTicker(gcTuneInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not measured by this runtime
		}
		live := sample[0].Value.Uint64()
		if p := gcPercentFor(live); p != cur && (p-cur > 5 || cur-p > 5 || p == gcPercentMax || p == gcPercentMin) {
			debug.SetGCPercent(p)
			log.Debug("GC percent", "live-bytes", live, "gogc", p)
			cur = p
		}
	}
}
