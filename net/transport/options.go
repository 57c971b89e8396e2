package transport

import (
	"crypto/tls"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Transport. Zero values take the defaults noted, which
// follow the seed report's gRPC tuning.
type Options struct {
	// ClusterToken is sent with every stream and must equal the receiver's
	// (etcd's --initial-cluster-token).
	ClusterToken string
	// ClusterID is sent with every stream; a receiver that knows its own
	// cluster ID refuses a sender that states another (etcd's cluster-ID
	// check: a member restored into a new cluster is refused by the old
	// one even when the token is reused). 0 means unknown — a member that
	// joined an existing cluster, which cannot derive the ID — and is
	// neither checked nor sent as a claim.
	ClusterID uint64

	// QueueMessages bounds each peer's outgoing queue; a message that finds
	// it full is dropped and the peer reported unreachable. Default 4096.
	QueueMessages int
	// IncomingMessages is the capacity of Incoming(). When it is full,
	// receiving streams wait, and their senders' queues fill. Default 4096.
	IncomingMessages int
	// MaxMsgBytes is the largest encoded message sent as one frame on the
	// Message stream; larger ones travel in chunks. Default 4 MiB (raft's
	// MaxSizePerMsg) plus 512 KiB for headers and one oversized entry.
	MaxMsgBytes int
	// ChunkBytes is the frame size of chunked messages. Default 1 MiB.
	ChunkBytes int
	// MaxLargePending bounds chunked messages queued or in flight per peer;
	// beyond it they are dropped (a MsgSnap is reported failed). Default 4.
	MaxLargePending int

	// RetryMin and RetryMax bound the exponential wait between attempts to
	// (re)open a peer's stream. Defaults 50 ms and 2 s.
	RetryMin, RetryMax time.Duration
	// KeepaliveTime and KeepaliveTimeout detect dead connections: a ping
	// after KeepaliveTime of silence, the connection closed when it is not
	// answered within KeepaliveTimeout. Defaults 10 s and 10 s.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// WindowBytes and ConnWindowBytes are HTTP/2 flow-control windows per
	// stream and per connection. Defaults 8 MiB and 16 MiB.
	WindowBytes, ConnWindowBytes int32

	// GRPCMessages sends small messages on the gRPC Message stream even
	// to plain (http) peers that accept the direct stream (see
	// Listener). Receiving is unaffected.
	GRPCMessages bool

	// TLS dials peers whose URL is https (the peer side's
	// tlsutil.Info.ClientConfig: its certificate as the client's, the
	// peer CA as roots). Nil: https peer URLs are refused by AddPeer.
	TLS *tls.Config

	// OnUnreachable is told that messages to a peer were dropped or its
	// stream broke (replica.ReportUnreachable). Called on a transport
	// goroutine, never inside Send, at most one call per peer at a time.
	OnUnreachable func(id uint64)
	// OnSnapshotStatus is told whether a MsgSnap reached the peer
	// (replica.ReportSnapshot). Called on a transport goroutine, exactly once
	// per MsgSnap passed to Send before Close.
	OnSnapshotStatus func(id uint64, ok bool)

	// Snapshots, when set, sends each MsgSnap's snapshot file after it on a
	// Snapshot stream, and stores received ones before delivering their
	// MsgSnap (core.SnapshotFiles). Without it a MsgSnap travels alone on
	// a Large stream, its Data inside.
	Snapshots SnapshotFiles

	// Logger receives connection events; default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueMessages, 4096)
	def(&o.IncomingMessages, 4096)
	def(&o.MaxMsgBytes, 4<<20+512<<10)
	def(&o.ChunkBytes, 1<<20)
	def(&o.MaxLargePending, 4)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&o.RetryMin, 50*time.Millisecond)
	defDur(&o.RetryMax, 2*time.Second)
	defDur(&o.KeepaliveTime, 10*time.Second)
	defDur(&o.KeepaliveTimeout, 10*time.Second)
	if o.WindowBytes <= 0 {
		o.WindowBytes = 8 << 20
	}
	if o.ConnWindowBytes <= 0 {
		o.ConnWindowBytes = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// frameBytes is the largest frame either method carries, plus the
// BytesValue envelope.
func (o Options) frameBytes() int {
	return max(o.MaxMsgBytes, o.ChunkBytes) + 1<<10
}

// ServerOptions are the grpc.Server options a peer server needs to accept
// this transport's streams: a receive limit above the largest frame,
// keepalive enforcement loose enough for the clients' pings (gRPC's default
// policy would answer a ping every 10 s with GOAWAY), and the flow-control
// windows. The server given to Register should be built with them.
func ServerOptions(o Options) []grpc.ServerOption {
	o = o.withDefaults()
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.frameBytes()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             o.KeepaliveTime / 2,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    o.KeepaliveTime,
			Timeout: o.KeepaliveTimeout,
		}),
		grpc.InitialWindowSize(o.WindowBytes),
		grpc.InitialConnWindowSize(o.ConnWindowBytes),
	}
}
