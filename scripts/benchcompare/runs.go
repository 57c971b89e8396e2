package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// step is one planned measurement: one workload, one server kind, one
// round, on a fresh cluster.
type step struct {
	nodes int
	w     workload
	kind  string
	round int
}

// runResult is one measurement as reported and saved.
type runResult struct {
	Nodes    int    `json:"nodes"`
	Workload string `json:"workload"`
	Title    string `json:"title"`
	Tool     string `json:"tool"`
	Server   string `json:"server"`           // etcd, MetaStore (memory engine), MetaStore-RocksDB
	Engine   string `json:"engine,omitempty"` // MetaStore's engine
	Round    int    `json:"round"`
	outcome
	ServerCPUPerOpUS float64 `json:"server_cpu_us_per_op"`
	// EngineCPUPerOpUS is the part of ServerCPUPerOpUS that RocksDB's
	// flush and compaction threads took.
	EngineCPUPerOpUS float64 `json:"engine_threads_cpu_us_per_op"`
	ClientCPUPerOpUS float64 `json:"client_cpu_us_per_op"`
	RSSBytes         int64   `json:"rss_bytes"` // the largest member's, at the end
	OtherLoad        float64 `json:"other_load"`
	LoadAvg1         float64 `json:"loadavg_1m"`
	Skewed           bool    `json:"skewed"`
	Err              string  `json:"error,omitempty"`
}

func (r runResult) line() string {
	head := fmt.Sprintf("%d node(s) · %s · %s · %s · round %d", r.Nodes, r.Title, r.Tool, r.Server, r.Round)
	if r.Err != "" {
		return head + ": FAILED: " + r.Err
	}
	s := fmt.Sprintf("%s: %.0f ops/s, p99 %.1f ms, %d errors, server %.0f µs/op, other load %.0f%%",
		head, r.OpsPerSec, r.P99MS, r.Errors, r.ServerCPUPerOpUS, r.OtherLoad*100)
	if r.Skewed {
		s += "  SKEWED"
	}
	return s
}

// measured is a tool run bracketed by /proc samples.
type measured struct {
	outcome
	serverCPU time.Duration
	engineCPU time.Duration // of serverCPU, RocksDB's background threads
	otherLoad float64
	loadavg   float64
}

// measure runs one load tool against c and samples /proc around it.
func measure(ctx context.Context, c *cluster, tool func() (outcome, error)) (measured, error) {
	s0, err := takeSample(c.pids())
	if err != nil {
		return measured{}, err
	}
	out, err := tool()
	if err != nil {
		return measured{}, err
	}
	s1, err := takeSample(c.pids())
	if err != nil {
		return measured{}, err
	}
	if err := c.exited(); err != nil {
		return measured{}, err
	}
	return measured{outcome: out, serverCPU: s1.servers - s0.servers, engineCPU: s1.engine - s0.engine,
		otherLoad: otherLoad(s0, s1, out.ClientCPU), loadavg: s1.loadavg1}, nil
}

func perOpUS(d time.Duration, ops int64) float64 {
	if ops <= 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(ops)
}

func (s step) run(ctx context.Context, bins binaries, dir string, skew float64) runResult {
	r := runResult{Nodes: s.nodes, Workload: s.w.ID, Title: s.w.Title, Tool: s.w.Tool, Server: s.kind,
		Engine: kindEngines[s.kind], Round: s.round}
	c, err := startCluster(ctx, s.kind, bins, dir, s.nodes)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer func() {
		c.stop()
		c.removeData()
	}()
	if s.w.Prefill != nil {
		if _, err := runMetastoreBench(ctx, bins.metastore, c.endpoints(), s.w.Prefill); err != nil {
			r.Err = "prefill: " + err.Error()
			return r
		}
	}
	m, err := measure(ctx, c, func() (outcome, error) {
		if s.w.Tool == toolEtcd {
			return runEtcdBenchmark(ctx, bins.benchmark, c.endpoints(), s.w.EtcdGlobal, s.w.Args)
		}
		return runMetastoreBench(ctx, bins.metastore, c.endpoints(), s.w.Args)
	})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.outcome = m.outcome
	r.ServerCPUPerOpUS = perOpUS(m.serverCPU, m.Ops+m.Errors)
	r.EngineCPUPerOpUS = perOpUS(m.engineCPU, m.Ops+m.Errors)
	r.ClientCPUPerOpUS = perOpUS(m.ClientCPU, m.Ops+m.Errors)
	r.RSSBytes = c.rss()
	r.OtherLoad, r.LoadAvg1 = m.otherLoad, m.loadavg
	r.Skewed = m.otherLoad > skew
	return r
}

// loadResult is one -load measurement: the load itself, then a 50-client
// put over the loaded keys.
type loadResult struct {
	Server       string  `json:"server"`
	Engine       string  `json:"engine,omitempty"`
	Round        int     `json:"round"`
	Keys         int     `json:"keys"`
	Load         outcome `json:"load"`
	LoadSeconds  float64 `json:"load_seconds"`
	LoadRSSBytes int64   `json:"load_rss_bytes"`
	LoadOther    float64 `json:"load_other_load"`
	// Empty is the same 50-client put on a fresh, empty member of the
	// same kind, run just before the load: the figure the loaded one is
	// held to (issue 7: at least 80% of its rate, at most 2x its p99).
	Empty      outcome `json:"put50_empty"`
	EmptyOther float64 `json:"put50_empty_other_load"`
	After      outcome `json:"put50_after"`
	AfterOther float64 `json:"put50_after_other_load"`
	RSSBytes   int64   `json:"rss_bytes_end"`
	Skewed     bool    `json:"skewed"`
	Err        string  `json:"error,omitempty"`
}

func (r loadResult) line() string {
	head := fmt.Sprintf("%s · round %d · %d keys", r.Server, r.Round, r.Keys)
	if r.Err != "" {
		return head + ": FAILED: " + r.Err
	}
	s := fmt.Sprintf("%s: put-50 on an empty member %.0f ops/s (p99 %.1f ms); load %.0f ops/s (p99 %.0f ms, slowest %.0f ms, %d errors, RSS %s); then put-50 %.0f ops/s (p99 %.1f ms, slowest %.0f ms)",
		head, r.Empty.OpsPerSec, r.Empty.P99MS, r.Load.OpsPerSec, r.Load.P99MS, r.Load.MaxMS, r.Load.Errors, mb(r.LoadRSSBytes), r.After.OpsPerSec, r.After.P99MS, r.After.MaxMS)
	if r.Skewed {
		s += "  SKEWED"
	}
	return s
}

// loadRun runs a 50-client put on a fresh, empty single member of kind,
// then loads o.load keys into another fresh member with 1,000 clients and
// runs the same 50-client put over the loaded key space.
func loadRun(ctx context.Context, bins binaries, kind string, round int, o options, dir string) loadResult {
	r := loadResult{Server: kind, Engine: kindEngines[kind], Round: round, Keys: o.load}
	keys := "--key-space-size=" + strconv.Itoa(o.load)
	total := map[bool]string{false: "--total=60000", true: "--total=5000"}[o.quick]
	put50 := func(c *cluster) (measured, error) {
		return measure(ctx, c, func() (outcome, error) {
			return runMetastoreBench(ctx, bins.metastore, c.endpoints(), []string{"put", "--clients=50", "--conns=5",
				total, "--key-size=16", "--val-size=256", keys})
		})
	}
	empty, err := startCluster(ctx, kind, bins, dir+"-empty", 1)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	e, err := put50(empty)
	empty.stop()
	empty.removeData()
	if err != nil {
		r.Err = "put on the empty member: " + err.Error()
		return r
	}
	r.Empty, r.EmptyOther = e.outcome, e.otherLoad
	c, err := startCluster(ctx, kind, bins, dir, 1)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer func() {
		c.stop()
		c.removeData()
	}()
	load, err := measure(ctx, c, func() (outcome, error) {
		return runMetastoreBench(ctx, bins.metastore, c.endpoints(), []string{"put", "--clients=1000", "--conns=100",
			"--total=" + strconv.Itoa(o.load), "--key-size=16", "--val-size=256", keys, "--sequential-keys"})
	})
	if err != nil {
		r.Err = "load: " + err.Error()
		return r
	}
	r.Load, r.LoadOther, r.LoadRSSBytes = load.outcome, load.otherLoad, c.rss()
	if load.OpsPerSec > 0 {
		r.LoadSeconds = float64(load.Ops) / load.OpsPerSec
	}
	after, err := put50(c)
	if err != nil {
		r.Err = "put after load: " + err.Error()
		return r
	}
	r.After, r.AfterOther, r.RSSBytes = after.outcome, after.otherLoad, c.rss()
	r.Skewed = e.otherLoad > o.skew || load.otherLoad > o.skew || after.otherLoad > o.skew
	return r
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
