package core_test

import (
	"bufio"
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
	"metastore/core/realworld"
	"metastore/engines/memory"
)

var (
	footprintKeys = flag.Int("footprint-keys", 100_000, "keys BenchmarkFootprint loads")
	footprintProf = flag.String("footprint-heapprofile", "", "write a heap profile here after the load")
)

// BenchmarkFootprint loads -footprint-keys keys (16-byte sequential keys,
// 256-byte values, as etcd's benchmark tool writes them) through the real
// write path of a one-member replica on the memory engine, with its WAL and
// snapshots on a temporary directory and the default snapshot count, and
// reports the memory that costs per key: the live heap after a collection,
// and the process's peak resident set; and the longest HandleReady and
// snapshot job (wall time: skewed by whatever else runs). Run it alone
// with -benchtime=1x (the peak is the whole process's).
func BenchmarkFootprint(b *testing.B) {
	n := *footprintKeys
	for b.Loop() {
		dir := b.TempDir()
		r, err := core.Open(core.Config{
			ID: 1, Peers: []uint64{1}, Dir: dir, Disk: realworld.OSDisk{}, Clock: realworld.NewClock(),
			Network: nopNet{}, Engine: memory.New(), Rand: rand.New(rand.NewPCG(1, 1)),
		})
		if err != nil {
			b.Fatal(err)
		}
		// The longest HandleReady is what a snapshot used to add to every
		// request's latency; the job now runs apart (inline here, timed
		// on its own).
		var readyMax, snapMax time.Duration
		drive := func() {
			for r.HasReady() {
				start := time.Now()
				if err := r.HandleReady(); err != nil {
					b.Fatal(err)
				}
				readyMax = max(readyMax, time.Since(start))
			}
			start := time.Now()
			if err := r.SnapshotInline(); err != nil {
				b.Fatal(err)
			}
			snapMax = max(snapMax, time.Since(start))
		}
		for i := 0; r.Status().Role != "leader"; i++ {
			if i > 100 {
				b.Fatal("no leader")
			}
			r.Tick()
			drive()
		}
		val := make([]byte, 256)
		const batch = 1000
		answered := 0
		for i := 0; i < n; i += batch {
			for j := i; j < min(i+batch, n); j++ {
				key := make([]byte, 16)
				binary.BigEndian.PutUint64(key[8:], uint64(j))
				r.Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: val}},
					func(res core.Result) {
						if res.Err != nil {
							b.Fatalf("put: %v", res.Err)
						}
						answered++
					})
			}
			drive()
		}
		if answered != n {
			b.Fatalf("%d of %d puts answered", answered, n)
		}
		b.ReportMetric(float64(readyMax.Microseconds())/1000, "ready-max-ms")
		b.ReportMetric(float64(snapMax.Microseconds())/1000, "snapshot-job-max-ms")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/float64(n), "heap-live-B/key")
		b.ReportMetric(float64(ms.HeapInuse)/float64(n), "heap-inuse-B/key")
		if hwm := procStatusBytes("VmHWM"); hwm > 0 {
			b.ReportMetric(float64(hwm)/float64(n), "peak-rss-B/key")
			b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
		}
		if rss := procStatusBytes("VmRSS"); rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		}
		if *footprintProf != "" {
			f, err := os.Create(filepath.Clean(*footprintProf))
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		runtime.KeepAlive(r)
		r.Close()
	}
}

// procStatusBytes reads a "kB" field of /proc/self/status; 0 when absent
// (not Linux).
func procStatusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

type nopNet struct{}

func (nopNet) Send([]*raftpb.Message) {}
