// Command benchcompare is `make bench-compare`: it builds etcd v3.7.3,
// etcd's benchmark tool and metastore, then runs the same workloads
// against a fresh etcd and a fresh MetaStore on each of its engines
// (memory and RocksDB), alternately, and prints ratio tables (each
// MetaStore engine over etcd, median of the rounds) with each server's
// CPU per operation and resident memory, marking every round that other
// work on the machine may have skewed. Results go to stdout as Markdown
// and to bench-results/<time>.{md,json}.
//
// Usage (from the repository root):
//
//	go run ./scripts/benchcompare [-quick] [-load=N] [-rounds=2] [-nodes=1,3] [-engines=memory,rocksdb] [-only=REGEXP]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workload is one line of the tables: a load tool and its arguments.
type workload struct {
	ID    string // short, for file names and -only
	Title string
	Tool  string // "metastore bench" or "etcd benchmark"
	Args  []string
	// EtcdGlobal holds etcd benchmark's global flags (Args is then its
	// sub-command and flags).
	EtcdGlobal []string
	// Prefill, when set, is a metastore bench run done before the timed
	// one, untimed: the range workloads read keys that exist.
	Prefill []string
}

const (
	toolMetastore = "metastore bench"
	toolEtcd      = "etcd benchmark"
)

// workloads are the issue's: put at 1, 50 and 1,000 clients, txn-put,
// linearizable and serializable range at 50, and etcd's own tool on the
// 50-client put, all with 8-byte keys and 256-byte values. Totals are
// sized for about 10 s per run on a quiet 2-core machine, or 1 to 3 s
// with quick (enough for /proc's 10 ms CPU ticks to resolve CPU per op).
func workloads(quick bool) []workload {
	n := func(full, q int) string {
		if quick {
			return "--total=" + strconv.Itoa(q)
		}
		return "--total=" + strconv.Itoa(full)
	}
	kv := []string{"--key-size=8", "--val-size=256"}
	c50 := []string{"--clients=50", "--conns=5"}
	space := "--key-space-size=100000"
	prefill := []string{"put", "--clients=50", "--conns=5", "--total=1000", "--key-size=8", "--val-size=256",
		"--key-space-size=1000", "--sequential-keys"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []workload{
		{ID: "put-1", Title: "put, 1 client", Tool: toolMetastore,
			Args: cat([]string{"put", "--clients=1", "--conns=1", space, n(5000, 1000)}, kv)},
		{ID: "put-50", Title: "put, 50 clients", Tool: toolMetastore,
			Args: cat([]string{"put", space, n(60000, 10000)}, c50, kv)},
		{ID: "put-1000", Title: "put, 1,000 clients", Tool: toolMetastore,
			Args: cat([]string{"put", "--clients=1000", "--conns=100", space, n(80000, 20000)}, kv)},
		{ID: "txn-put-50", Title: "txn-put, 50 clients", Tool: toolMetastore,
			Args: cat([]string{"txn-put", space, n(40000, 8000)}, c50, kv)},
		{ID: "range-l-50", Title: "range linearizable, 50 clients", Tool: toolMetastore, Prefill: prefill,
			Args: cat([]string{"range", "--consistency=l", "--key-space-size=1000", n(80000, 15000)}, c50, kv)},
		{ID: "range-s-50", Title: "range serializable, 50 clients", Tool: toolMetastore, Prefill: prefill,
			Args: cat([]string{"range", "--consistency=s", "--key-space-size=1000", n(80000, 15000)}, c50, kv)},
		{ID: "etcd-put-50", Title: "put, 50 clients", Tool: toolEtcd, EtcdGlobal: c50,
			Args: cat([]string{"put", space, n(60000, 10000)}, kv)},
	}
}

type options struct {
	quick      bool
	load       int
	loadRounds int
	rounds     int
	nodes      []int
	only       *regexp.Regexp
	kinds      []string // the servers to compare: etcd, then MetaStore on each engine asked for
	skew       float64
	out        string
	peers      string
	// metastoreArgs are extra flags for every MetaStore member, e.g.
	// --experimental-lean-grpc=false to measure grpc-go's server instead.
	metastoreArgs []string
}

func main() {
	var o options
	var nodes, only, engines string
	flag.BoolVar(&o.quick, "quick", false, "small totals and one node count (1 unless -nodes says otherwise): under 5 minutes")
	flag.IntVar(&o.load, "load", 0, "also load this many keys (16-byte sequential keys, 256-byte values, 1,000 clients) into each server, then run a 50-client put")
	flag.IntVar(&o.loadRounds, "load-rounds", 1, "rounds of the -load run")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per workload and server (the tables show the median)")
	flag.StringVar(&nodes, "nodes", "", "comma-separated cluster sizes (default 1,3; 1 with -quick)")
	flag.StringVar(&only, "only", "", "run only the workloads whose ID matches this regexp (put-1, put-50, put-1000, txn-put-50, range-l-50, range-s-50, etcd-put-50)")
	flag.StringVar(&engines, "engines", "memory,rocksdb", "comma-separated MetaStore engines to run against etcd (memory, rocksdb)")
	flag.Float64Var(&o.skew, "skew", 0.10, "mark a round skewed when other work used more than this share of the machine's CPU during it")
	flag.StringVar(&o.out, "out", "bench-results", "directory for results, binaries and the servers' data directories")
	flag.StringVar(&o.peers, "peers", ".peers/bin", "where scripts/build-etcd-peers.sh puts etcd and benchmark")
	var metastoreArgs string
	flag.StringVar(&metastoreArgs, "metastore-args", "", "space-separated extra flags for every MetaStore member (e.g. --experimental-lean-grpc=false); the report's command line shows them")
	flag.Parse()
	o.metastoreArgs = strings.Fields(metastoreArgs)
	if nodes == "" {
		nodes = map[bool]string{false: "1,3", true: "1"}[o.quick]
	}
	for _, f := range strings.Split(nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatalf("-nodes=%q: want cluster sizes like 1,3", nodes)
		}
		o.nodes = append(o.nodes, n)
	}
	var err error
	if o.kinds, err = parseEngines(engines); err != nil {
		fatalf("-engines: %v", err)
	}
	if o.only, err = regexp.Compile(only); err != nil {
		fatalf("-only: %v", err)
	}
	if o.rounds < 1 || o.loadRounds < 1 || o.load < 0 {
		fatalf("-rounds and -load-rounds must be at least 1, -load not negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-compare: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// binaries are the three programs a comparison runs.
type binaries struct {
	etcd, benchmark, metastore string
	metastoreArgs              []string // extra flags for MetaStore members
}

// server is the program that serves kind.
func (b binaries) server(kind string) string {
	if kind == etcdKind {
		return b.etcd
	}
	return b.metastore
}

// parseEngines turns -engines into the server kinds to run: etcd first,
// then MetaStore on each engine named, in the order given.
func parseEngines(list string) ([]string, error) {
	kinds := []string{etcdKind}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		kind, ok := engineKinds[f]
		if !ok {
			return nil, fmt.Errorf("%q: want memory and/or rocksdb", f)
		}
		if slices.Contains(kinds, kind) {
			return nil, fmt.Errorf("%q named twice", f)
		}
		kinds = append(kinds, kind)
	}
	return kinds, nil
}

// build makes etcd and etcd's benchmark with the project's own script
// (a no-op when they exist) and metastore from this checkout.
func build(ctx context.Context, o options) (binaries, error) {
	b := binaries{
		etcd:          filepath.Join(o.peers, "etcd"),
		benchmark:     filepath.Join(o.peers, "benchmark"),
		metastore:     filepath.Join(o.out, "bin", "metastore"),
		metastoreArgs: o.metastoreArgs,
	}
	steps := [][]string{
		{"bash", "scripts/build-etcd-peers.sh", "-o", o.peers, "etcd", "benchmark"},
		{"go", "build", "-o", b.metastore, "./cmd/metastore"},
	}
	for _, s := range steps {
		logf("building: %s", strings.Join(s, " "))
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	return b, nil
}

// run builds, measures and reports.
func run(ctx context.Context, o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the repository root (make bench-compare does)")
	}
	started := time.Now().UTC() // "took" includes the builds
	bins, err := build(ctx, o)
	if err != nil {
		return err
	}
	stamp := started.Format("20060102-150405")
	rep := &report{
		Started: started, Command: commandLine(o), Machine: machineInfo(), Rounds: o.rounds, Servers: o.kinds,
		SkewThreshold: o.skew, Quick: o.quick, Revision: gitRevision(),
	}
	// Each run removes its members' data directories; their logs stay
	// until the end, and are kept when a run failed, for its error names
	// them.
	dataRoot := filepath.Join(o.out, "data-"+stamp)
	failed := false
	defer func() {
		if failed {
			logf("logs of the failed runs are kept under %s", dataRoot)
		} else {
			os.RemoveAll(dataRoot)
		}
	}()

	var plan []step
	for _, nodes := range o.nodes {
		for _, w := range workloads(o.quick) {
			if !o.only.MatchString(w.ID) {
				continue
			}
			for round := 1; round <= o.rounds; round++ {
				for _, kind := range order(o.kinds, round) {
					plan = append(plan, step{nodes: nodes, w: w, kind: kind, round: round})
				}
			}
		}
	}
	for i, s := range plan {
		if ctx.Err() != nil {
			break
		}
		r := s.run(ctx, bins, filepath.Join(dataRoot, fmt.Sprintf("%03d", i)), o.skew)
		rep.Runs = append(rep.Runs, r)
		failed = failed || r.Err != ""
		logf("[%d/%d] %s", i+1, len(plan), r.line())
	}
	if o.load > 0 {
		for round := 1; round <= o.loadRounds && ctx.Err() == nil; round++ {
			for _, kind := range order(o.kinds, round) {
				if ctx.Err() != nil {
					break
				}
				r := loadRun(ctx, bins, kind, round, o, filepath.Join(dataRoot, fmt.Sprintf("load-%d-%s", round, kind)))
				rep.Loads = append(rep.Loads, r)
				failed = failed || r.Err != ""
				logf("[load] %s", r.line())
			}
		}
	}
	rep.Finished = time.Now().UTC()
	md := rep.markdown()
	fmt.Print(md)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(o.out, stamp)
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	if err := rep.writeJSON(base + ".json"); err != nil {
		return err
	}
	logf("results: %s.md and %s.json", base, base)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; partial results written")
	}
	return nil
}

// order alternates the servers' order by round (as given, then reversed),
// so that none always runs on a machine warmed (or tired) by another.
func order(kinds []string, round int) []string {
	if round%2 == 1 {
		return kinds
	}
	r := slices.Clone(kinds)
	slices.Reverse(r)
	return r
}

func commandLine(o options) string {
	return "go run ./scripts/benchcompare " + strings.Join(os.Args[1:], " ")
}

func machineInfo() string {
	model := "unknown CPU"
	for line := range strings.Lines(readFile("/proc/cpuinfo")) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
			break
		}
	}
	var memKB int64
	for line := range strings.Lines(readFile("/proc/meminfo")) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			memKB, _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %.1f GB RAM, %s/%s, %s", model, runtime.NumCPU(), float64(memKB)/(1<<20),
		runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
