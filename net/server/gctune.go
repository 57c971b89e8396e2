package server

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The memory engine keeps the whole store on the Go heap, and Go's default
// GOGC=100 lets the heap grow to twice the live data before it collects:
// with a million keys that doubles the resident size. TuneGC gives the heap
// a fixed gcHeadroomBytes above the live data instead (no less than
// gcPercentMin of it, no more than gcPercentMax). A large heap is mostly
// pointer-free records, and the request path allocates little per byte of
// live data, so collecting more often costs a few percent of a core, where
// the default costs hundreds of megabytes. The floor only matters past 640
// MiB of live heap (a million keys of 256 bytes is about 450): it was 25,
// which at a million keys gave the heap about 45 MiB more than the 64 MiB
// of headroom, and most of a record's heap is pointer-free, so a collection
// marks little per byte.
//
// A small heap gets the same 64 MiB: under Go's default a store of 30 MiB
// live was collected every 1,700 puts (6-7 KB of garbage each, mostly
// gRPC's), and the collector took 6 µs of CPU per put, an eighth of the
// server's. A server holding little can therefore grow to about 64 MiB of
// heap before it collects. The ceiling, GOGC=1600, is what gives the
// smallest heaps those 64 MiB: Go's heap goal is never below 4 MiB ×
// GOGC/100. It was 400, which held a store of 3 MiB live to a 16 MiB goal:
// at 50 clients serializable ranges were collected ten times a second,
// and a collection is a burst (mark assists took one of the two cores for
// its ~4 ms) that the requests in flight wait out: 39-58% of the slowest
// 1% overlapped one, against 4% of all requests. At 1600: 5-6 collections
// instead of 23-24 and 8% less CPU per range, for a peak resident set of
// 125 MiB instead of 67 (only stores under 16 MiB live pay it). The tuner
// runs every second, so a heap growing fast (a bulk load) leaves the high
// GOGC of its small start behind within a second.
//
// A large heap (past gcLimitFrom) is bounded by a memory limit instead,
// set to the live heap plus gcLimitRoomBytes, with GOGC at twice the
// percentage above as a backstop. The limit counts all of the runtime's
// memory and makes it return freed pages, so the same resident size leaves
// the heap more room than GOGC alone: at a million keys of 256 bytes, 16
// collections per 100,000 puts instead of 21-25 for 612 against 599-608 MiB
// resident, and collection was 42-52% of the server's CPU there.
//
// The room was 150 MiB. Of it the heap got only 60-70 MiB above the live
// data: the rest is the runtime's own share under the limit (fragmentation
// of the 1M records' spans, idle pages not yet returned, span and GC
// metadata, about 90 MiB at a million keys). A collection there marks 1.5M
// objects, 90-120 ms of CPU, and after a million-key load the 50-client
// put ran 6-7 of them per 120,000 puts: about 5 µs of the 5-7 µs a put cost
// beyond an empty store's (a snapshot of the whole store landing in the
// window was not measurable next to that). At 200 MiB: 4-5 collections for
// 45 MiB more resident after the load (650-664 against 600-640 MiB; etcd's
// is 455, the bound 1.5× that). The room stayed 150 MiB: snapshots every
// sixth of the store (snapshotLogRatio) bought more for those megabytes —
// a million-key load at 2.08× etcd's rate instead of 1.81, put after it
// 2.12× etcd, resident 1.41× (one run each, 15:17 and 15:30 UTC).
//
// It is 200 MiB since the raft log stopped growing with the snapshot
// cadence (core's maybeTrimLog): that freed 25-30 MB at a million keys
// (resident after the load 573-579 MB against 600-606), and the room got
// them back. Two rounds each, alternating with etcd (17:30 and 17:33
// UTC): at 150 MiB resident 1.30× etcd's and put-50 after the load p99
// 1.60-1.91× the empty member's; at 200 MiB 1.34× and 1.23-1.85×; the put
// rate after the load was 81-96% and 86-90% of the empty member's.
const (
	gcLimitFrom      = 256 << 20
	gcLimitRoomBytes = 200 << 20
)

const (
	gcHeadroomBytes = 64 << 20
	gcPercentMin    = 10
	gcPercentMax    = 1600
	gcTuneInterval  = time.Second
)

// gcPercentFor returns the GOGC value for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	return int(min(max(uint64(gcHeadroomBytes)*100/live, gcPercentMin), gcPercentMax))
}

// gcPolicyFor returns GOGC and the memory limit for a live heap of live
// bytes: see gcLimitFrom.
func gcPolicyFor(live uint64) (percent int, limit int64) {
	if live < gcLimitFrom {
		return gcPercentFor(live), math.MaxInt64
	}
	return 2 * gcPercentFor(live), int64(live) + gcLimitRoomBytes
}

// gcPercentChange reports whether GOGC should move from cur to p: at once
// when p is lower (a growing heap: every point of GOGC left above p is a
// percent of the live heap resident for nothing, 5 MiB at a million
// keys), and past 5 points, or at a bound, when it is higher, so that a
// heap that shrinks and grows a little does not flip GOGC to and fro.
func gcPercentChange(cur, p int) bool {
	return p < cur || p-cur > 5 || (p != cur && p == gcPercentMax)
}

// TuneGC adjusts GOGC to the live heap every gcTuneInterval until stop is
// closed, unless the operator chose a policy (GOGC or GOMEMLIMIT set).
func TuneGC(stop <-chan struct{}, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GC tuning left to GOGC/GOMEMLIMIT")
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := 100 // Go's default, GOGC being unset
	t := time.NewTicker(gcTuneInterval)
	defer t.Stop()
	for {
		// NB: tune at once, not only after the first interval: a server
		// starts small, and the first seconds of load would run at Go's
		// default.
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not measured by this runtime
		}
		live := sample[0].Value.Uint64()
		p, limit := gcPolicyFor(live)
		if gcPercentChange(cur, p) {
			debug.SetGCPercent(p)
			log.Debug("GC percent", "live-bytes", live, "gogc", p)
			cur = p
		}
		debug.SetMemoryLimit(limit)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
