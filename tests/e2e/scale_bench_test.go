package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	scaleKeys  = flag.Int("scale.keys", 2_000_000, "BenchmarkScaleRocksDB: keys to load")
	scaleValue = flag.Int("scale.value", 1024, "BenchmarkScaleRocksDB: value bytes")
	scaleJoin  = flag.Bool("scale.join", true, "BenchmarkScaleRocksDB: time a new member's catch-up too")
	scalePprof = flag.String("scale.cpuprofile", "", "BenchmarkScaleRocksDB: write the member's CPU profile of the full-store puts here, and of the empty store's to this path with .empty appended")
	scaleHeap  = flag.String("scale.heapprofile", "", "BenchmarkScaleRocksDB: write the member's Go heap profile after the load here")
	scaleGC    = flag.Bool("scale.gctrace", false, "BenchmarkScaleRocksDB: run the member with GODEBUG=gctrace=1 and report the collector's CPU per operation")
)

// BenchmarkScaleRocksDB loads -scale.keys keys of -scale.value bytes (2M
// of 1 KiB, about 2 GiB, by default) into a one-member RocksDB cluster and
// reports, without asserting anything (timings depend on the machine):
// put and single-key range throughput on the nearly empty store and on the
// full one, the member's resident memory when full, and how long a new
// member takes to catch up (a snapshot of the whole store, then the log).
// Each put and range phase also logs the member's CPU per operation (and
// the part RocksDB's flush and compaction threads took), its collections
// (and their CPU with -scale.gctrace), its fsync, apply and propose
// latencies, and, before the puts, the disk's own fsync latency: where
// throughput swings with other load on the machine, these tell a slower
// member from a busier disk.
// It takes minutes and gigabytes of disk; run it alone on a quiet machine:
//
//	go test ./tests/e2e -run '^$' -bench ScaleRocksDB -benchtime=1x -timeout 2h -v
func BenchmarkScaleRocksDB(b *testing.B) {
	for range b.N {
		scaleRun(b)
	}
}

func scaleRun(b *testing.B) {
	args := []string{"--engine=rocksdb", "--quota-backend-bytes=68719476736"}
	if *scalePprof != "" || *scaleHeap != "" {
		args = append(args, "--enable-pprof")
	}
	if *scaleGC {
		// The member inherits it; this process read GODEBUG when it started.
		b.Setenv("GODEBUG", "gctrace=1")
	}
	c := newCluster(b, 1, args...)
	m := c.members[0]
	cli := c.client(m.client)
	ctx := context.Background()
	value := strings.Repeat("x", *scaleValue)
	key := func(i int) string { return fmt.Sprintf("scale/%09d", i) }

	// A small working set first, so range reads have keys to find.
	loadKeys(b, cli, 0, 10_000, key, value)
	profiledEmpty := make(chan struct{})
	if *scalePprof != "" {
		go func() {
			defer close(profiledEmpty)
			profileCPU(b, m, *scalePprof+".empty", 10*time.Second)
		}()
	} else {
		close(profiledEmpty)
	}
	putEmpty, rangeEmpty, costEmpty := throughput(b, m, cli, 10_000, key, value)
	<-profiledEmpty
	b.Logf("empty store: %.0f puts/s, %.0f ranges/s", putEmpty, rangeEmpty)

	start := time.Now()
	cpu0, wrote0 := processUsage(b, m)
	loadKeys(b, cli, 10_000, *scaleKeys, key, value)
	loadTime := time.Since(start)
	cpu1, wrote1 := processUsage(b, m)
	b.Logf("loaded %d keys of %d bytes in %v (%.0f keys/s); member CPU %v, %d MiB written",
		*scaleKeys, *scaleValue, loadTime.Round(time.Second), float64(*scaleKeys-10_000)/loadTime.Seconds(),
		cpu1-cpu0, (wrote1-wrote0)>>20)
	b.ReportMetric(float64((wrote1-wrote0)>>20), "MiB-written-load")
	b.ReportMetric((cpu1 - cpu0).Seconds(), "cpu-s-load")
	rss := residentBytes(b, m)
	logMemory(b, m)
	if *scaleHeap != "" {
		saveHeapProfile(b, m, *scaleHeap)
	}
	profiled := make(chan struct{})
	if *scalePprof != "" {
		go func() {
			defer close(profiled)
			profileCPU(b, m, *scalePprof, 10*time.Second)
		}()
	} else {
		close(profiled)
	}
	putFull, rangeFull, costFull := throughput(b, m, cli, *scaleKeys, key, value)
	<-profiled
	cpu2, wrote2 := processUsage(b, m)
	logMemory(b, m)
	b.Logf("full store: %.0f puts/s (%.0f%% of empty), %.0f ranges/s (%.0f%% of empty); resident memory %d MiB; "+
		"member CPU %v and %d MiB written for the 10000 puts and 10000 ranges",
		putFull, 100*putFull/putEmpty, rangeFull, 100*rangeFull/rangeEmpty, rss>>20, cpu2-cpu1, (wrote2-wrote1)>>20)
	b.ReportMetric(float64(rss>>20), "MiB-resident")
	b.ReportMetric(putFull/putEmpty, "put-ratio")
	b.ReportMetric(rangeFull/rangeEmpty, "range-ratio")
	b.ReportMetric(costEmpty.putCPU, "cpu-µs/put-empty")
	b.ReportMetric(costFull.putCPU, "cpu-µs/put-full")
	b.ReportMetric(costFull.putRocks, "rocksdb-µs/put-full")
	b.ReportMetric(costEmpty.rangeCPU, "cpu-µs/range-empty")
	b.ReportMetric(costFull.rangeCPU, "cpu-µs/range-full")

	if !*scaleJoin {
		return
	}
	// A new member: MemberAddAsLearner, start it empty, and time it until
	// it has applied what the leader has.
	//
	// NB: raft's leader sends its newest stored snapshot, and a follower
	// ignores a snapshot whose configuration does not list it, so a member
	// added after the leader's last snapshot is not sent a usable one until
	// the leader snapshots again (every --snapshot-count entries; the same
	// holds for the memory engine). Until the replica snapshots after a
	// configuration change, the benchmark writes past the next snapshot
	// before starting the new member: as a learner it does not count toward
	// the quorum meanwhile.
	ports := freePorts(b, 3)
	j := &member{
		name:    "joiner",
		client:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		peer:    fmt.Sprintf("127.0.0.1:%d", ports[1]),
		metrics: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		args:    []string{"--initial-cluster-state=existing"},
	}
	base := filepath.Dir(m.dataDir)
	j.dataDir, j.logPath = filepath.Join(base, j.name), filepath.Join(base, j.name+".log")
	if _, err := cli.MemberAddAsLearner(ctx, []string{"http://" + j.peer}); err != nil {
		b.Fatal(err)
	}
	// Past the next snapshot (the default --snapshot-count is 10000).
	ticks(b, cli, 10_100)
	c.initial += ",joiner=http://" + j.peer
	c.members = append(c.members, j)
	st, err := c.status(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	target := st.RaftAppliedIndex
	joinStart := time.Now()
	c.start(j)
	for {
		st, err := c.status(ctx, j)
		if err == nil && st.RaftAppliedIndex >= target {
			break
		}
		if time.Since(joinStart) > 30*time.Minute {
			b.Fatalf("the new member did not catch up within 30 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	catchUp := time.Since(joinStart)
	b.Logf("new member caught up to applied index %d in %v; its resident memory %d MiB", target, catchUp.Round(time.Millisecond), residentBytes(b, j)>>20)
	b.ReportMetric(catchUp.Seconds(), "s-catch-up")
}

// ticks makes n small writes, one raft entry each, from 16 clients.
func ticks(b *testing.B, cli *clientv3.Client, n int) {
	putParallel(b, context.Background(), cli, n, func(int) (string, string) { return "scale/tick", "t" })
}

// putParallel makes puts 1..n, one raft entry each, from 16 clients; kv
// gives put i's key and value. The first error fails tb.
func putParallel(tb testing.TB, ctx context.Context, cli *clientv3.Client, n int, kv func(i int) (string, string)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				k, v := kv(int(i))
				pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := cli.Put(pctx, k, v)
				pcancel()
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatal(err)
	}
}

// loadKeys writes keys [from, to) in transactions of 100 puts from 8 clients.
func loadKeys(b *testing.B, cli *clientv3.Client, from, to int, key func(int) string, value string) {
	const perTxn, workers = 100, 8
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var failed atomic.Value
	var retries atomic.Int64
	defer func() {
		if n := retries.Load(); n > 0 {
			b.Logf("load: %d transactions retried after an error (timeouts)", n)
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(perTxn)) - perTxn
				if lo >= to {
					return
				}
				var ops []clientv3.Op
				for i := lo; i < min(lo+perTxn, to); i++ {
					ops = append(ops, clientv3.OpPut(key(i), value))
				}
				// A timeout (the member busy taking a snapshot of the whole
				// store on its loop) is retried: the puts are idempotent.
				var err error
				for try := 0; try < 10; try++ {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err = cli.Txn(ctx).Then(ops...).Commit()
					cancel()
					if err == nil {
						break
					}
					retries.Add(1)
					time.Sleep(time.Second)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// throughput measures single puts and single-key serializable ranges on
// random keys below n, from 16 clients, 10000 of each.
func throughput(b *testing.B, m *member, cli *clientv3.Client, n int, key func(int) string, value string) (puts, ranges float64, cost phaseCost) {
	const ops, workers = 10_000, 16
	run := func(op func(ctx context.Context, r *rand.Rand) error) float64 {
		var wg sync.WaitGroup
		var failed atomic.Value
		var errs atomic.Int64
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 7))
				for range ops / workers {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := op(ctx, r)
					cancel()
					if err != nil {
						failed.Store(err)
						if errs.Add(1) > ops/10 {
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if n := errs.Load(); n > ops/10 {
			b.Fatalf("more than a tenth of the requests failed; last: %v", failed.Load())
		} else if n > 0 {
			b.Logf("%d of %d requests failed (last: %v)", n, ops, failed.Load())
		}
		return float64(ops-errs.Load()) / time.Since(start).Seconds()
	}
	b.Logf("fsync probe before the puts over %d keys: %v", n, fsyncProbe(b, filepath.Dir(m.dataDir), 300))
	s0 := samplePhase(b, m)
	puts = run(func(ctx context.Context, r *rand.Rand) error {
		_, err := cli.Put(ctx, key(r.IntN(n)), value)
		return err
	})
	s1 := samplePhase(b, m)
	ranges = run(func(ctx context.Context, r *rand.Rand) error {
		_, err := cli.Get(ctx, key(r.IntN(n)), clientv3.WithSerializable())
		return err
	})
	s2 := samplePhase(b, m)
	cost.putCPU, cost.putRocks = logPhase(b, m, fmt.Sprintf("puts over %d keys", n), ops, s0, s1)
	cost.rangeCPU, _ = logPhase(b, m, fmt.Sprintf("ranges over %d keys", n), ops, s1, s2)
	return puts, ranges, cost
}

// phaseCost is the member's CPU per put and per range in µs, and the part
// of a put's RocksDB's own threads (flushes, compactions) took.
type phaseCost struct{ putCPU, putRocks, rangeCPU float64 }

// processUsage is the member process's CPU time (user and system) and the
// bytes it passed to write calls, files and sockets alike (Linux:
// /proc/<pid>/stat and io's wchar), figures that hold on a busy machine
// where throughput does not.
// NB: not io's write_bytes: it counts the whole page-cache folio a small
// write dirties, so over the WAL's zeroed chunk it read ~1 MiB per put.
func processUsage(b *testing.B, m *member) (cpu time.Duration, written int64) {
	m.mu.Lock()
	pid := m.cmd.Process.Pid
	m.mu.Unlock()
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		cpu = statCPU(stat)
	}
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, l := range strings.Split(string(io), "\n") {
			if v, ok := strings.CutPrefix(l, "wchar:"); ok {
				written, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	return cpu, written
}

// statCPU is the utime+stime of a /proc/<pid>/stat or
// /proc/<pid>/task/<tid>/stat: after the command name (which may hold
// spaces), the 12th and 13th fields, in clock ticks (100 per second).
func statCPU(stat []byte) time.Duration {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) <= 12 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// profileCPU saves the member's CPU profile over the next d to path.
func profileCPU(b *testing.B, m *member, path string, d time.Duration) {
	saveURL(b, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", m.client, int(d.Seconds())), path, "cpu profile")
}

// saveURL writes the body of a GET of url to path, logging a failure as what.
func saveURL(b *testing.B, url, path, what string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Logf("%s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Logf("%s: %v", what, err)
	}
}

// residentBytes is the member process's resident set size (Linux).
func residentBytes(b *testing.B, m *member) int64 {
	m.mu.Lock()
	pid := m.cmd.Process.Pid
	m.mu.Unlock()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("resident memory unknown: %v", err)
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// logMemory logs where the member's resident memory goes, from its
// /metrics: the Go heap in use, what the Go runtime holds from the OS
// without what it returned, RocksDB's block cache, memtables and table
// readers, and the RocksDB state behind write stalls. The rest of the
// resident set is C allocations RocksDB does not account for (and malloc's
// free lists), thread stacks and code.
func logMemory(b *testing.B, m *member) {
	resp, err := http.Get("http://" + m.metrics + "/metrics")
	if err != nil {
		b.Logf("memory breakdown unknown: %v", err)
		return
	}
	defer resp.Body.Close()
	val := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			val[name] = f
		}
	}
	mib := func(name string) int64 { return int64(val[name]) >> 20 }
	engine := func(kind string) int64 { return mib(`metastore_engine_memory_bytes{kind="` + kind + `"}`) }
	prop := func(name string) int64 { return int64(val[`metastore_engine_property{name="rocksdb.`+name+`"}`]) }
	b.Logf("memory: Go heap in use %d MiB (%d objects), Go runtime held %d MiB; RocksDB block cache %d MiB (pinned %d), "+
		"memtables %d MiB, table readers %d MiB; %d L0 files, %d MiB of compaction pending, delayed write rate %d, write stopped %d",
		mib("go_memstats_heap_inuse_bytes"), int64(val["go_memstats_heap_objects"]),
		int64(val["go_memstats_sys_bytes"]-val["go_memstats_heap_released_bytes"])>>20,
		engine("block-cache"), engine("block-cache-pinned"), engine("memtables"), engine("table-readers"),
		prop("num-files-at-level0"), prop("estimate-pending-compaction-bytes")>>20,
		prop("actual-delayed-write-rate"), prop("is-write-stopped"))
}

// saveHeapProfile writes the member's Go heap profile, taken after a
// collection, to path (go tool pprof -sample_index=inuse_space).
func saveHeapProfile(b *testing.B, m *member, path string) {
	saveURL(b, "http://"+m.client+"/debug/pprof/heap?gc=1", path, "heap profile")
}
