// Package metrics defines MetaStore's Prometheus metrics on a private
// registry, the HTTP handler that exposes them (/metrics; net/httpapi serves
// it with the health checks), and the gRPC interceptors and connection
// counter that feed the gRPC ones.
//
// Metric names follow the seed report so its alert rules (deploy/alerts.yml)
// apply unchanged; NB: durations are therefore in milliseconds (suffix _ms),
// not Prometheus' customary seconds.
//
// # Usage
//
//	m := metrics.New()
//	srv := grpc.NewServer(append(cfg.GRPCServerOptions(), m.ServerOptions()...)...)
//	go srv.Serve(m.CountConns(lis))
//	http.Handle("/metrics", m.Handler())
//	// driver goroutine:
//	start := time.Now(); ...; metrics.ObserveSince(m.FsyncDuration, start)
//	m.ObserveLeader(st.Leader != 0, st.LeaderChange)
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Names of the metric families this package defines (Go and process
// collectors add their usual go_* and process_* families).
const (
	RaftProposeDuration  = "raft_propose_duration_ms"
	RaftApplyDuration    = "raft_apply_duration_ms"
	RaftInflightMessages = "raft_inflight_messages"
	RaftLeaderChanges    = "raft_leader_changes_total"
	RaftHasLeader        = "raft_has_leader"
	GRPCRequestDuration  = "grpc_request_duration_ms"
	GRPCRequests         = "grpc_requests_total"
	GRPCActiveConns      = "grpc_active_connections"
	StorageFsyncDuration = "storage_fsync_duration_ms"
	MemoryUsage          = "memory_usage_bytes"
	MemorySystemTotal    = "memory_system_total_bytes"
)

// Names lists the metric families this package defines, in the order above.
func Names() []string {
	return []string{RaftProposeDuration, RaftApplyDuration, RaftInflightMessages, RaftLeaderChanges,
		RaftHasLeader, GRPCRequestDuration, GRPCRequests, GRPCActiveConns, StorageFsyncDuration,
		MemoryUsage, MemorySystemTotal}
}

// msBuckets are latency buckets in milliseconds; the seed's alert thresholds
// (50, 100, 200 ms) are boundaries so their quantiles are not interpolated
// across a wide bucket.
var msBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 200, 500, 1000, 2500, 5000, 10000}

// Metrics holds the collectors. The exported observers are safe for
// concurrent use; the driver goroutine feeds the raft and storage ones.
type Metrics struct {
	// Registry holds every collector; serve it with Handler.
	Registry *prometheus.Registry

	// ProposeDuration is the time from a proposal to its callback.
	ProposeDuration prometheus.Histogram
	// ApplyDuration is the time to apply one apply job's committed entries.
	ApplyDuration prometheus.Histogram
	// FsyncDuration is the time of one WAL sync.
	FsyncDuration prometheus.Histogram
	// InflightMessages is the number of MsgApp in flight to followers
	// (leader only; 0 elsewhere). Its ceiling is raft's MaxInflightMsgs per
	// follower.
	InflightMessages prometheus.Gauge

	leaderChanges prometheus.Counter
	hasLeader     prometheus.Gauge
	leaderMu      sync.Mutex
	leaderSeen    uint64 // last cumulative count given to ObserveLeader

	grpcDuration *prometheus.HistogramVec
	grpcRequests *prometheus.CounterVec
	grpcConns    prometheus.Gauge
	methods      sync.Map // full method name -> *methodMetrics
}

// New creates the collectors on a fresh registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: msBuckets})
	}
	m := &Metrics{
		Registry:         prometheus.NewRegistry(),
		ProposeDuration:  hist(RaftProposeDuration, "Time from proposing a write to its result, in milliseconds."),
		ApplyDuration:    hist(RaftApplyDuration, "Time to apply one batch of committed entries, in milliseconds."),
		FsyncDuration:    hist(StorageFsyncDuration, "Time of one WAL fsync, in milliseconds."),
		InflightMessages: prometheus.NewGauge(prometheus.GaugeOpts{Name: RaftInflightMessages, Help: "Append messages in flight to followers (leader only)."}),
		leaderChanges:    prometheus.NewCounter(prometheus.CounterOpts{Name: RaftLeaderChanges, Help: "Leader changes seen by this member."}),
		hasLeader:        prometheus.NewGauge(prometheus.GaugeOpts{Name: RaftHasLeader, Help: "1 when this member knows a leader, else 0."}),
		grpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: GRPCRequestDuration, Help: "Duration of unary gRPC requests by method, in milliseconds (streams are not timed).",
			Buckets: msBuckets,
		}, []string{"method"}),
		grpcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GRPCRequests, Help: "Finished gRPC requests and streams by method and status code.",
		}, []string{"method", "code"}),
		grpcConns: prometheus.NewGauge(prometheus.GaugeOpts{Name: GRPCActiveConns, Help: "Open client gRPC connections."}),
	}
	m.Registry.MustRegister(
		m.ProposeDuration, m.ApplyDuration, m.FsyncDuration, m.InflightMessages,
		m.leaderChanges, m.hasLeader, m.grpcDuration, m.grpcRequests, m.grpcConns,
		newMemoryUsage(), newMemorySystemTotal(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveSince records the milliseconds elapsed since start in o.
func ObserveSince(o prometheus.Observer, start time.Time) {
	ObserveDuration(o, time.Since(start))
}

// ObserveDuration records d in milliseconds in o.
func ObserveDuration(o prometheus.Observer, d time.Duration) {
	o.Observe(float64(d) / float64(time.Millisecond))
}

// ObserveLeader records whether a leader is known and the replica's
// cumulative count of leader changes (core.Status.LeaderChange); the counter
// advances by the increase since the last call.
func (m *Metrics) ObserveLeader(hasLeader bool, leaderChanges uint64) {
	if hasLeader {
		m.hasLeader.Set(1)
	} else {
		m.hasLeader.Set(0)
	}
	m.leaderMu.Lock()
	defer m.leaderMu.Unlock()
	if leaderChanges > m.leaderSeen {
		m.leaderChanges.Add(float64(leaderChanges - m.leaderSeen))
	}
	m.leaderSeen = leaderChanges
}
