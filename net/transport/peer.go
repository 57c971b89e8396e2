package transport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// peer is the sending side towards one member: a bounded queue of encoded
// messages drained by one writer goroutine (run) over a Message stream, and
// chunked sends on their own goroutines.
type peer struct {
	t       *Transport
	id      uint64
	targets []target // tried in turn

	queue chan encoded  // messages for the Message stream
	large chan struct{} // tokens: chunked sends queued or in flight

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc

	reporting atomic.Bool // an OnUnreachable call is running

	connMu     sync.Mutex
	conn       *grpc.ClientConn // nil until first use; shared with chunked sends
	target     int              // index in targets of conn
	connClosed bool             // run has ended: make no new connection
	largeMu    sync.Mutex       // chunked sends go one at a time
}

func newPeer(t *Transport, id uint64, targets []target) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:       t,
		id:      id,
		targets: targets,
		queue:   make(chan encoded, t.opts.QueueMessages),
		large:   make(chan struct{}, t.opts.MaxLargePending),
		ctx:     ctx,
		cancel:  cancel,
	}
}

// stop makes run and the chunked sends return; it does not wait for them.
func (p *peer) stop() { p.cancel() }

// run keeps a Message stream open and writes the queue into it, waiting
// RetryMin..RetryMax (doubling) between failed attempts.
func (p *peer) run() {
	defer p.closeConn()
	wait := p.t.opts.RetryMin
	for p.ctx.Err() == nil {
		sent, err := p.open()
		if p.ctx.Err() != nil {
			return
		}
		p.t.opts.Logger.Info("peer stream down", "peer", fmt.Sprintf("%x", p.id), "err", err)
		p.reportUnreachable()
		if sent {
			wait = p.t.opts.RetryMin
		} else {
			p.rotate()
		}
		if !p.idle(wait) {
			return
		}
		wait = min(2*wait, p.t.opts.RetryMax)
	}
}

// open runs one stream to the current target: a direct stream to a plain
// (http) peer that speaks it, else a gRPC Message stream.
func (p *peer) open() (sent bool, err error) {
	p.connMu.Lock()
	tg := p.targets[p.target]
	p.connMu.Unlock()
	if !tg.tls && !p.t.opts.GRPCMessages {
		sent, err := p.directStream(tg.hostPort)
		if !errors.Is(err, errNoDirect) {
			return sent, err
		}
		p.t.opts.Logger.Info("peer has no direct stream, using gRPC", "peer", fmt.Sprintf("%x", p.id))
	}
	return p.stream()
}

// stream opens one Message stream and writes to it until it breaks. sent
// tells whether at least one message went out (the link worked).
func (p *peer) stream() (sent bool, err error) {
	conn, err := p.getConn()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(p.outgoing())
	defer cancel()
	s, err := conn.NewStream(ctx, &serviceDesc.Streams[0], MessageMethod)
	if err != nil {
		return false, err
	}
	// The receiver never writes: RecvMsg returns only when the stream ends,
	// with the receiver's reason (e.g. a token mismatch).
	ended := make(chan error, 1)
	go func() {
		err := s.RecvMsg(new(wrapperspb.BytesValue))
		cancel()
		ended <- err
	}()
	for {
		select {
		case <-ctx.Done():
			return sent, <-ended
		case e := <-p.queue:
			if err := s.SendMsg(&wrapperspb.BytesValue{Value: e.joined()}); err != nil {
				cancel()
				return sent, errors.Join(err, <-ended)
			}
			sent = true
		}
	}
}

// idle waits d, dropping (and reporting) whatever is queued meanwhile: the
// peer is unreachable, and stale heartbeats are worth nothing later.
// It reports false when the peer was stopped.
func (p *peer) idle(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-p.queue:
			p.reportUnreachable()
		}
	}
}

// outgoing is the peer's context with the stream metadata.
func (p *peer) outgoing() context.Context {
	return metadata.AppendToOutgoingContext(p.ctx,
		mdToken, p.t.opts.ClusterToken,
		mdCluster, strconv.FormatUint(p.t.opts.ClusterID, 16),
		mdFrom, strconv.FormatUint(p.t.self, 16))
}

// getConn returns the connection to the current target, creating it lazily.
func (p *peer) getConn() (*grpc.ClientConn, error) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.conn != nil {
		return p.conn, nil
	}
	if p.connClosed {
		return nil, context.Canceled
	}
	o := p.t.opts
	tg := p.targets[p.target]
	creds := insecure.NewCredentials()
	if tg.tls {
		creds = credentials.NewTLS(o.TLS)
	}
	conn, err := grpc.NewClient(tg.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout, PermitWithoutStream: true,
		}),
		// NB: gRPC's own reconnect backoff grows to 2 minutes by default;
		// a restarted peer must be found again within a few heartbeats.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: o.RetryMin, Multiplier: 1.6, Jitter: 0.2, MaxDelay: o.RetryMax},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithInitialWindowSize(o.WindowBytes),
		grpc.WithInitialConnWindowSize(o.ConnWindowBytes),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(o.frameBytes())),
	)
	if err != nil {
		return nil, err
	}
	p.conn = conn
	return conn, nil
}

// rotate moves to the next target when there is more than one; with one
// target the connection is kept, as gRPC reconnects it by itself.
func (p *peer) rotate() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if len(p.targets) < 2 {
		return
	}
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
	p.target = (p.target + 1) % len(p.targets)
}

func (p *peer) closeConn() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	p.connClosed = true
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// reportUnreachable calls OnUnreachable on its own goroutine unless a call
// for this peer is already running (raft needs the news once, not per drop).
// The caller must not hold t.mu.
func (p *peer) reportUnreachable() {
	if p.claimReport() {
		p.t.goTracked(p.callUnreachable)
	}
}

// reportUnreachableLocked is reportUnreachable for Send, which holds t.mu.
func (p *peer) reportUnreachableLocked() {
	if p.claimReport() {
		p.t.goLocked(p.callUnreachable, true)
	}
}

func (p *peer) claimReport() bool {
	return p.t.opts.OnUnreachable != nil && p.reporting.CompareAndSwap(false, true)
}

func (p *peer) callUnreachable() {
	defer p.reporting.Store(false)
	p.t.opts.OnUnreachable(p.id)
}
