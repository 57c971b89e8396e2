package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"metastore/core"
	"metastore/core/engine"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
	"metastore/net/config"
	"metastore/net/metrics"
	"metastore/net/server"
	"metastore/net/transport"
)

// gracePeriod bounds the graceful stop of the client gRPC server: watch and
// keep-alive streams never end by themselves.
const gracePeriod = 2 * time.Second

// run is what mainErr calls once the configuration is valid; a variable so
// that tests of flag handling can replace it and start no server.
var run = serve

// serve runs one member until SIGTERM or SIGINT (a clean stop: nil) or a
// fail-stop of the replica (its error: the caller exits non-zero).
func serve(cfg *config.Config) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	p, err := build(cfg, log)
	if err != nil {
		return err
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigc)
	p.start()
	log.Info("serving", "name", cfg.Name, "id", fmt.Sprintf("%x", p.id),
		"client-urls", cfg.ListenClientURLs.String(), "peer-urls", cfg.ListenPeerURLs.String())
	select {
	case sig := <-sigc:
		log.Info("stopping", "signal", sig.String())
	case <-p.node.Done():
	}
	return p.stop()
}

// process is a member's pieces, stopped in reverse dependency order.
type process struct {
	id         uint64
	log        *slog.Logger
	node       *server.Node
	srv        *server.Server
	tr         *transport.Transport
	clientSrv  *grpc.Server
	peerSrv    *grpc.Server
	clientLis  []net.Listener
	peerLis    []net.Listener
	metrics    *metrics.Metrics
	metricsSrv *http.Server
	metricsLis []net.Listener
	stopc      chan struct{} // ends the leader observer
	eng        engine.Engine // closed last
}

// memberID is this member's raft ID: derived from --initial-cluster for a
// new cluster, or, when joining (--initial-cluster-state=existing), the ID
// MemberAdd gave it, derived from its peer URLs (server.JoinMemberID).
func memberID(cfg *config.Config) uint64 {
	if cfg.InitialClusterState == "existing" {
		return server.JoinMemberID(cfg.InitialAdvertisePeerURLs, cfg.InitialClusterToken)
	}
	return cfg.MemberID()
}

// build opens the replica at --data-dir and assembles transport, node and
// services; nothing is served until start.
func build(cfg *config.Config, log *slog.Logger) (*process, error) {
	members, err := cfg.Members()
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(members))
	for i, mb := range members {
		ids[i] = mb.ID
	}
	join := cfg.InitialClusterState == "existing"
	id := memberID(cfg)
	if !join && !slices.Contains(ids, id) {
		return nil, fmt.Errorf("--initial-cluster has no member named %q with peer URLs %s",
			cfg.Name, cfg.InitialAdvertisePeerURLs.String())
	}
	p := &process{id: id, log: log, metrics: metrics.New(), stopc: make(chan struct{})}

	dir := filepath.Join(cfg.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base, err := openEngine(cfg, dir)
	if err != nil {
		return nil, err
	}
	p.eng = base
	eng := server.NewSizedEngine(base)
	topts := transport.Options{
		ClusterToken:     cfg.InitialClusterToken,
		OnUnreachable:    func(peer uint64) { p.node.ReportUnreachable(peer) },
		OnSnapshotStatus: func(peer uint64, ok bool) { p.node.ReportSnapshot(peer, ok) },
		MaxMsgBytes:      int(cfg.Raft.MaxSizePerMsg) + 512<<10,
		Logger:           log.With("component", "transport"),
	}
	p.tr = transport.New(id, topts)
	syncs := p.metrics.NewSyncTimer(realworld.OSDisk{})
	rc := core.Config{
		ID:                        id,
		Join:                      join,
		Dir:                       dir,
		Disk:                      syncs,
		Clock:                     realworld.NewClock(),
		Network:                   p.tr,
		Engine:                    eng,
		Rand:                      newRand(),
		ElectionTicks:             cfg.ElectionTicks(),
		HeartbeatTicks:            cfg.HeartbeatTicks(),
		MaxSizePerMsg:             cfg.Raft.MaxSizePerMsg,
		MaxInflightMsgs:           cfg.Raft.MaxInflightMsgs,
		MaxUncommittedEntriesSize: cfg.Raft.MaxUncommittedEntriesSize,
		SnapshotEntries:           cfg.SnapshotCount,
		CatchUpEntries:            cfg.Raft.CatchUpEntries,
	}
	if !join {
		rc.Peers = ids
	}
	r, err := core.Open(rc)
	if err != nil {
		p.tr.Close()
		p.eng.Close()
		return nil, err
	}
	p.node = server.NewNode(r, server.NodeConfig{
		TickInterval: cfg.TickInterval(),
		Incoming:     p.tr.Incoming(),
		Logger:       log.With("component", "node"),
		ObserveReady: p.metrics.ReadyObserver(syncs),
	})
	p.srv = server.New(p.node, server.Config{
		Name:              cfg.Name,
		PeerURLs:          cfg.InitialAdvertisePeerURLs,
		ClientURLs:        cfg.AdvertiseClientURLs,
		ClusterID:         config.ClusterID(ids),
		ClusterToken:      cfg.InitialClusterToken,
		RequestTimeout:    cfg.RequestTimeout,
		MinLeaseTTL:       time.Duration(3*cfg.ElectionTicks()/2) * cfg.TickInterval(),
		MaxRequestBytes:   cfg.MaxRequestBytes,
		QuotaBackendBytes: cfg.QuotaBackendBytes,
		DBSize:            eng.Size,
		Defragment:        defragmenter(base),
		ObservePropose:    func(d time.Duration) { metrics.ObserveDuration(p.metrics.ProposeDuration, d) },
		Transport:         p.tr,
		Logger:            log.With("component", "server"),
	})
	for _, mb := range members {
		if mb.ID == id {
			continue
		}
		if err := p.tr.AddPeer(mb.ID, mb.PeerURLs); err != nil {
			p.abort()
			return nil, err
		}
		p.srv.Seed(mb.ID, mb.PeerURLs)
	}

	p.peerSrv = grpc.NewServer(transport.ServerOptions(topts)...)
	p.tr.Register(p.peerSrv)
	p.clientSrv = grpc.NewServer(slices.Concat(clientOptions(cfg), p.metrics.ServerOptions(), p.srv.Interceptors())...)
	p.srv.Register(p.clientSrv)
	p.metricsSrv = &http.Server{Handler: p.metrics.ServeMux(p.hasLeader), ReadHeaderTimeout: 10 * time.Second}
	if p.peerLis, err = listen(cfg.ListenPeerURLs); err == nil {
		if p.clientLis, err = listen(cfg.ListenClientURLs); err == nil {
			p.metricsLis, err = listen(cfg.ListenMetricsURLs)
		}
	}
	if err != nil {
		p.abort()
		return nil, err
	}
	return p, nil
}

// clientOptions are the configured gRPC tuning, with the receive limit
// raised when needed so that a request just above --max-request-bytes
// reaches the server's own check and gets etcd's "request is too large".
func clientOptions(cfg *config.Config) []grpc.ServerOption {
	opts := cfg.GRPC.ServerOptions()
	if need := cfg.MaxRequestBytes + 512<<10; cfg.GRPC.MaxRecvMsgSize < need {
		opts = append(opts, grpc.MaxRecvMsgSize(need))
	}
	return opts
}

func (p *process) start() {
	p.node.Start()
	for _, l := range p.peerLis {
		go p.serve(p.peerSrv, l)
	}
	for _, l := range p.clientLis {
		go p.serve(p.clientSrv, l)
	}
	for _, l := range p.metricsLis {
		go func() {
			if err := p.metricsSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("serving metrics", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
	go p.observeLeader()
}

func (p *process) serve(g *grpc.Server, l net.Listener) {
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		p.log.Error("serving", "addr", l.Addr().String(), "err", err)
	}
}

// hasLeader is safe from HTTP goroutines: Status reads an atomic copy.
func (p *process) hasLeader() bool { return p.node.Status().Leader != 0 }

// observeLeader feeds the leader gauges once a second.
func (p *process) observeLeader() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		st := p.node.Status()
		p.metrics.ObserveLeader(st.Leader != 0, st.LeaderChange)
		select {
		case <-p.stopc:
			return
		case <-t.C:
		}
	}
}

// stop ends client traffic first, then the loops, then peer traffic, and
// returns the replica's fatal error if it had one.
func (p *process) stop() error {
	done := make(chan struct{})
	go func() {
		p.clientSrv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(gracePeriod):
		p.clientSrv.Stop()
		<-done
	}
	close(p.stopc)
	p.metricsSrv.Close()
	p.srv.Close()
	p.node.Stop()
	p.peerSrv.Stop()
	p.tr.Close()
	if err := p.eng.Close(); err != nil {
		p.log.Error("closing the engine", "err", err)
	}
	if err := p.node.Err(); err != nil {
		p.log.Error("replica failed", "err", err)
		return err
	}
	return nil
}

// abort releases what build made before it failed.
func (p *process) abort() {
	for _, l := range slices.Concat(p.peerLis, p.clientLis, p.metricsLis) {
		l.Close()
	}
	if p.srv != nil {
		p.srv.Close()
	}
	if p.node != nil {
		p.node.Stop()
	}
	p.tr.Close()
	p.eng.Close()
}

// openEngine opens the --engine: a fresh memory engine (the replica fills
// it from the snapshot and WAL), or the RocksDB database under dir, which
// keeps its contents across restarts.
func openEngine(cfg *config.Config, dir string) (engine.Engine, error) {
	if cfg.Engine != "rocksdb" {
		return memory.New(), nil
	}
	return rocksdb.Open(filepath.Join(dir, "rocksdb"), cfg.RocksDB.Options())
}

// defragmenter is etcd's Defragment for an engine that compacts its files.
func defragmenter(e engine.Engine) func() error {
	if r, ok := e.(*rocksdb.Engine); ok {
		return r.Compact
	}
	return nil
}

// listen opens a TCP listener for each http URL.
func listen(urls config.URLs) ([]net.Listener, error) {
	var out []net.Listener
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err == nil && pu.Scheme != "http" {
			err = fmt.Errorf("listen %s: only http is supported", u)
		}
		var l net.Listener
		if err == nil {
			l, err = net.Listen("tcp", pu.Host)
		}
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// newRand seeds the replica's request-ID source from the OS.
func newRand() *rand.Rand {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic(err)
	}
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])))
}
