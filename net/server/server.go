package server

import (
	"crypto/tls"
	"log/slog"
	"math"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Version is the etcd server version this server answers with (Status,
// Snapshot): clients and etcdctl parse it and gate features on it.
const Version = "3.7.3"

// PeerSetter is the part of the peer transport the server reconciles with
// the member table (transport.Transport implements it).
type PeerSetter interface {
	AddPeer(id uint64, urls []string) error
	RemovePeer(id uint64)
}

// Config configures the gRPC services. Zero values take etcd's defaults.
type Config struct {
	// Name, PeerURLs and ClientURLs are this member's attributes, published
	// into the member table (advertised URLs).
	Name       string
	PeerURLs   []string
	ClientURLs []string
	// ClusterID goes into every response header.
	ClusterID uint64
	// ClusterToken (--initial-cluster-token) seeds the IDs MemberAdd gives
	// (JoinMemberID), so the joining member can derive its own.
	ClusterToken string

	// RequestTimeout bounds every wait for the replica; default 5 s
	// (etcd: 5 s plus twice the election timeout).
	RequestTimeout time.Duration
	// MaxRequestBytes is the largest request accepted; default 1.5 MiB.
	MaxRequestBytes int
	// QuotaBackendBytes raises the NOSPACE alarm when the store grows past
	// it; default 2 GiB, negative disables the quota.
	QuotaBackendBytes int64
	// DBSize reports the store's size in bytes (Status, quota). Nil: 0.
	DBSize func() int64
	// Defragment compacts the engine's files (RocksDB's full compaction);
	// nil when the engine has nothing to compact (memory).
	Defragment func() error

	// ProgressNotifyInterval is how often idle progress_notify watchers get
	// a progress response; default 10 min, as etcd.
	ProgressNotifyInterval time.Duration
	// AutoCompactionPeriod, when positive, keeps about this much history:
	// etcd's --auto-compaction-mode=periodic. AutoCompactionRevisions, when
	// positive, keeps that many revisions (mode revision). Zero: off.
	AutoCompactionPeriod    time.Duration
	AutoCompactionRevisions int64

	// WatchQueueEvents bounds the events queued per watch stream before a
	// watcher falls back to catching up from the store; default 4096.
	WatchQueueEvents int
	// WatchSyncInterval is how often unsynced watchers catch up; default
	// 100 ms.
	WatchSyncInterval time.Duration
	// MemberSyncInterval is how often the member table is reconciled with
	// the transport and this member's attributes are (re)published; default
	// 500 ms.
	MemberSyncInterval time.Duration

	// MinLeaseTTL is the shortest lease granted: shorter TTLs are raised
	// to it, rounded up to whole seconds, as etcd raises them to 1.5
	// election timeouts, so a lease outlives a leader election. Default:
	// 15 ticks of the node (1.5 times the default 10-tick election).
	MinLeaseTTL time.Duration

	// ObservePropose, when set, is told how long each proposal took from
	// submission to its result (metrics).
	ObservePropose func(time.Duration)

	// Tokens issues and checks auth tokens (--auth-token); default:
	// simple tokens living 5 minutes without use.
	Tokens *Tokens
	// BcryptCost hashes passwords (--bcrypt-cost); default 10.
	BcryptCost int
	// ClientCertAuth (--client-cert-auth) lets a verified client
	// certificate's common name authenticate as that user.
	ClientCertAuth bool

	// DialTLS dials other members' https client URLs (forwarding to the
	// leader, learner readiness); nil when clients are served plaintext.
	DialTLS *tls.Config

	// Transport receives the peers of the member table; nil for none.
	Transport PeerSetter
	// Logger; default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 3 << 19 // 1.5 MiB
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = 2 << 30
	}
	if c.DBSize == nil {
		c.DBSize = func() int64 { return 0 }
	}
	if c.ProgressNotifyInterval <= 0 {
		c.ProgressNotifyInterval = 10 * time.Minute
	}
	if c.WatchQueueEvents <= 0 {
		c.WatchQueueEvents = 4096
	}
	if c.WatchSyncInterval <= 0 {
		c.WatchSyncInterval = 100 * time.Millisecond
	}
	if c.MemberSyncInterval <= 0 {
		c.MemberSyncInterval = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tokens == nil {
		c.Tokens, _ = ParseAuthToken("simple", 5*time.Minute)
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 10
	}
}

// grpcOverheadBytes is what etcd adds to MaxRequestBytes for gRPC's receive
// limit, so that a request slightly too large reaches the server's own check
// and gets etcd's "request is too large" rather than gRPC's ResourceExhausted.
const grpcOverheadBytes = 512 * 1024

// Server implements etcd's v3 gRPC services over a Node.
type Server struct {
	node   *Node
	cfg    Config
	hub    *hub
	tokens *Tokens

	alarms  alarms
	members *memberSync
	fwd     *forwarder
	health  *health.Server

	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New builds the services over node and installs the watch event sink on
// its replica. Call it before node.Start.
func New(node *Node, cfg Config) *Server {
	cfg.setDefaults()
	if cfg.MinLeaseTTL <= 0 {
		cfg.MinLeaseTTL = 15 * node.cfg.TickInterval
	}
	s := &Server{node: node, cfg: cfg, tokens: cfg.Tokens, alarms: alarms{node}, stopc: make(chan struct{})}
	s.hub = newHub(s)
	node.r.SetEventSink(s.hub.sink)
	s.members = newMemberSync(s)
	s.fwd = newForwarder(s)
	s.health = health.NewServer()
	s.goLoop(s.hub.syncLoop)
	s.goLoop(s.members.loop)
	s.goLoop(s.compactLoop)
	return s
}

// GRPCOptions are the server options the client gRPC server needs: the
// learner interceptors (Interceptors), the request workers
// (WorkerOptions), etcd's receive limit (MaxRequestBytes plus overhead) and
// unlimited sends.
func (s *Server) GRPCOptions() []grpc.ServerOption {
	return append(append(s.Interceptors(), WorkerOptions()...),
		grpc.MaxRecvMsgSize(s.cfg.MaxRequestBytes+grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
	)
}

// Interceptors are the server options the services rely on whatever the
// rest of the gRPC tuning: the learner checks and the auth gates. A server
// with metrics installs UnaryInterceptor and StreamInterceptors through
// metrics.ServerOptionsAround instead, as one unary link.
func (s *Server) Interceptors() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(s.StreamInterceptors()...),
	}
}

// StreamInterceptors are the stream checks, in the order they run.
func (s *Server) StreamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{s.StreamInterceptor(), s.adminStream}
}

// StreamWorkers is how many goroutines a gRPC server (grpc-go's, or
// another's worker pool) keeps to run requests on. Without them every
// request starts a goroutine whose stack then grows by copying, twice,
// while the request is decoded and handled (5% of a put's CPU); a worker
// keeps its grown stack. A request that finds every worker busy (more
// callers waiting on the replica than workers) still gets a goroutine of
// its own.
const StreamWorkers = 1024

// WorkerOptions are the gRPC server options that run requests on reused
// goroutines (StreamWorkers).
func WorkerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(StreamWorkers)}
}

// Register installs KV, Watch, Lease, Cluster, Maintenance, Auth and the
// standard gRPC health service on g (a grpc.Server, or a leangrpc.Server).
func (s *Server) Register(g grpc.ServiceRegistrar) {
	k := &kvServer{s: s}
	g.RegisterService(kvServiceDesc(k), k)
	pb.RegisterWatchServer(g, &watchServer{s: s})
	pb.RegisterLeaseServer(g, &leaseServer{s: s})
	pb.RegisterClusterServer(g, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(g, &maintenanceServer{s: s})
	pb.RegisterAuthServer(g, &authServer{s: s})
	healthpb.RegisterHealthServer(g, s.health)
}

// Close stops the server's background loops and closes forwarding
// connections. Stop the gRPC server first (it ends the streams).
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stopc) })
	s.health.Shutdown()
	s.wg.Wait()
	s.fwd.close()
}

func (s *Server) goLoop(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// header fills what etcd puts in every response header; a zero Revision
// becomes the current one.
func (s *Server) header(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	st := s.node.lastStatus()
	h.ClusterId = s.cfg.ClusterID
	h.MemberId = st.ID
	h.RaftTerm = st.Term
	if h.Revision == 0 {
		h.Revision = st.Revision
	}
	return h
}
