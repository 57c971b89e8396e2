package main

import (
	crand "crypto/rand"
	"crypto/tls"
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
	"metastore/net/leangrpc"
	"metastore/net/metrics"
	"metastore/net/server"
	"metastore/net/tlsutil"
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
	logw, logc, err := cfg.OpenLogOutputs()
	if err != nil {
		return err
	}
	defer logc.Close()
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
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
	leanSrv    *leangrpc.Server // plaintext gRPC (--experimental-lean-grpc, the default); else nil
	peerSrv    *grpc.Server
	clientLis  []net.Listener
	peerLis    []net.Listener
	metrics    *metrics.Metrics
	metricsSrv *http.Server
	metricsLis []net.Listener
	stopc      chan struct{} // ends the leader observer

	// http serves HTTP beside gRPC on the client listeners (http.go).
	http *clientHTTP
	eng  engine.Engine // closed last
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
	sec, err := buildSecurity(cfg, log)
	if err != nil {
		return nil, err
	}
	tokens, err := server.ParseAuthToken(cfg.AuthToken, time.Duration(cfg.AuthTokenTTL)*time.Second)
	if err != nil {
		return nil, err
	}
	base, err := openEngine(cfg, dir)
	if err != nil {
		return nil, err
	}
	p.eng = base
	if r, ok := base.(*rocksdb.Engine); ok {
		p.metrics.RegisterEngineMemory(map[string]func() uint64{
			"block-cache":        func() uint64 { return r.MemoryStats().BlockCache },
			"block-cache-pinned": func() uint64 { return r.MemoryStats().BlockCachePinned },
			"memtables":          func() uint64 { return r.MemoryStats().Memtables },
			"table-readers":      func() uint64 { return r.MemoryStats().TableReaders },
		})
		p.metrics.RegisterEngineProperties(rocksdb.WatchedProperties, r.IntProperty)
	}
	eng := server.NewSizedEngine(base)
	syncs := p.metrics.NewSyncTimer(realworld.OSDisk{})
	topts := transport.Options{
		TLS:              sec.peerDial,
		ClusterToken:     cfg.InitialClusterToken,
		ClusterID:        peerClusterID(join, ids),
		OnUnreachable:    func(peer uint64) { p.node.ReportUnreachable(peer) },
		OnSnapshotStatus: func(peer uint64, ok bool) { p.node.ReportSnapshot(peer, ok) },
		MaxMsgBytes:      int(cfg.Raft.MaxSizePerMsg) + 512<<10,
		Snapshots:        core.NewSnapshotFiles(syncs, dir), // snapshot files stream beside MsgSnap
		Logger:           log.With("component", "transport"),
	}
	p.tr = transport.New(id, topts)
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
		LogBytes:                  cfg.Raft.LogBytes,
		MaxTxnOps:                 int(cfg.MaxTxnOps),
		Pipeline:                  true,
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
		ObserveApply: p.metrics.ApplyObserver(),
	})
	compactPeriod, compactRevs, _ := cfg.AutoCompaction() // validated
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
		DialTLS:           sec.clientDial,
		Tokens:            tokens,
		BcryptCost:        cfg.BcryptCost,
		ClientCertAuth:    cfg.ClientTransportSecurity.ClientCertAuth,
		Logger:            log.With("component", "server"),

		// etcd flags of issue 11 (http).
		ProgressNotifyInterval:  cfg.WatchProgressNotifyInterval,
		AutoCompactionPeriod:    compactPeriod,
		AutoCompactionRevisions: compactRevs,
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

	// Listeners do TLS themselves (https URLs); the servers' credentials
	// pass the handshake's client certificate on to the services.
	p.peerSrv = grpc.NewServer(append(transport.ServerOptions(topts), grpc.Creds(tlsutil.ServerCredentials()))...)
	p.tr.Register(p.peerSrv)
	p.clientSrv = grpc.NewServer(slices.Concat(clientOptions(cfg), p.metrics.ServerOptionsAround(p.srv.UnaryInterceptor(), p.srv.StreamInterceptors()...), server.WorkerOptions(),
		[]grpc.ServerOption{grpc.Creds(tlsutil.ServerCredentials())})...)
	p.srv.Register(p.clientSrv)
	if cfg.ExperimentalLeanGRPC {
		p.leanSrv = newLeanServer(cfg, p.metrics, p.srv)
		p.srv.Register(p.leanSrv)
	}
	if err := p.buildClientHTTP(cfg); err != nil {
		p.abort()
		return nil, err
	}
	p.metricsSrv = &http.Server{Handler: p.metricsHandler(cfg), ReadHeaderTimeout: 10 * time.Second}
	if p.peerLis, err = listen(cfg.ListenPeerURLs, sec.peer); err == nil {
		if p.clientLis, err = listen(cfg.ListenClientURLs, sec.client); err == nil {
			p.metricsLis, err = listen(cfg.ListenMetricsURLs, nil)
		}
	}
	if err != nil {
		p.abort()
		return nil, err
	}
	return p, nil
}

// newLeanServer is the plaintext client gRPC server of
// --experimental-lean-grpc, with the interceptors and limits the grpc.Server
// has (metrics outermost, as there).
func newLeanServer(cfg *config.Config, m *metrics.Metrics, srv *server.Server) *leangrpc.Server {
	return leangrpc.NewServer(leangrpc.Options{
		// One unary link, as on the grpc.Server (metrics.ServerOptionsAround).
		UnaryInterceptors:    []grpc.UnaryServerInterceptor{m.UnaryAround(srv.UnaryInterceptor())},
		StreamInterceptors:   append([]grpc.StreamServerInterceptor{m.StreamServerInterceptor()}, srv.StreamInterceptors()...),
		MaxRecvMsgSize:       clientRecvLimit(cfg),
		MaxConcurrentStreams: cfg.GRPC.MaxConcurrentStreams,
		KeepaliveTime:        cfg.GRPCKeepaliveInterval,
		KeepaliveTimeout:     cfg.GRPCKeepaliveTimeout,
		// The enforcement policy config.GRPCServerOptions gives grpc-go.
		KeepaliveMinTime:             cfg.GRPCKeepaliveMinTime,
		KeepalivePermitWithoutStream: true,
		MaxConnectionIdle:            cfg.GRPC.MaxConnectionIdle,
		MaxConnectionAge:             cfg.GRPC.MaxConnectionAge,
		MaxConnectionAgeGrace:        cfg.GRPC.MaxConnectionAgeGrace,
		Workers:                      server.StreamWorkers,
		Unmarshal:                    server.UnmarshalRequest,
		Marshal:                      server.MarshalResponse,
	})
}

// clientOptions are the configured gRPC tuning, with the receive limit
// raised to clientRecvLimit when needed.
func clientOptions(cfg *config.Config) []grpc.ServerOption {
	opts := cfg.GRPCServerOptions()
	if need := clientRecvLimit(cfg); cfg.GRPC.MaxRecvMsgSize < need {
		opts = append(opts, grpc.MaxRecvMsgSize(need))
	}
	return opts
}

// clientRecvLimit is the configured receive limit, raised when needed so
// that a request just above --max-request-bytes reaches the server's own
// check and gets etcd's "request is too large".
func clientRecvLimit(cfg *config.Config) int {
	return max(cfg.GRPC.MaxRecvMsgSize, cfg.MaxRequestBytes+512<<10)
}

func (p *process) start() {
	p.node.Start()
	for _, l := range p.peerLis {
		// Direct peer streams are served beside the gRPC ones.
		go p.serve(p.peerSrv, p.tr.Listener(l))
	}
	p.serveClients()
	for _, l := range p.metricsLis {
		go func() {
			if err := p.metricsSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("serving metrics", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
	go p.observeLeader()
	go server.TuneGC(p.stopc, p.log.With("component", "gc")) // bounded GC headroom on large heaps
}

func (p *process) serve(g *grpc.Server, l net.Listener) {
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		p.log.Error("serving", "addr", l.Addr().String(), "err", err)
	}
}

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
	p.stopAccepting()
	done := make(chan struct{})
	go func() {
		if p.leanSrv != nil {
			p.leanSrv.GracefulStop()
		}
		p.clientSrv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(gracePeriod):
		if p.leanSrv != nil {
			p.leanSrv.Stop()
		}
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
	p.stopAccepting()
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

// listen opens a TCP listener for each http URL, and a TLS listener with
// tlsCfg for each https URL.
func listen(urls config.URLs, tlsCfg *tls.Config) ([]net.Listener, error) {
	var out []net.Listener
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err == nil && pu.Scheme != "http" && (pu.Scheme != "https" || tlsCfg == nil) {
			err = fmt.Errorf("listen %s: want http, or https with a certificate", u)
		}
		var l net.Listener
		if err == nil {
			l, err = net.Listen("tcp", pu.Host)
		}
		if err == nil && pu.Scheme == "https" {
			l = tls.NewListener(l, tlsCfg)
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
