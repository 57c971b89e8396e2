package transport

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport sends raft messages to peers and receives theirs. All methods
// are safe for concurrent use.
type Transport struct {
	self     uint64
	opts     Options
	incoming chan *raftpb.Message

	// ctx is cancelled by Close; every goroutine and delivery watches it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	peers  map[uint64]*peer
	direct map[net.Conn]*directListener // direct streams being served, by listener
	closed bool
}

// New returns a Transport for member selfID with no peers. It starts no
// goroutine until AddPeer.
func New(selfID uint64, opts Options) *Transport {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		self:     selfID,
		opts:     opts,
		incoming: make(chan *raftpb.Message, opts.IncomingMessages),
		ctx:      ctx,
		cancel:   cancel,
		peers:    make(map[uint64]*peer),
	}
}

// Incoming yields the messages peers sent to this member, each decoded into
// a fresh *raftpb.Message the receiver owns. It is never closed; stop
// reading it on your own signal.
func (t *Transport) Incoming() <-chan *raftpb.Message { return t.incoming }

// AddPeer starts sending to member id at the given peer URLs (tried in turn
// when a connection fails). Adding a known id with different URLs replaces
// its connection, dropping what was queued; with the same URLs it is a
// no-op. Adding selfID is a no-op.
func (t *Transport) AddPeer(id uint64, urls []string) error {
	if id == 0 || len(urls) == 0 {
		return fmt.Errorf("transport: peer %x needs an ID and at least one URL", id)
	}
	targets := make([]target, len(urls))
	for i, u := range urls {
		tg, err := parseTarget(u)
		if err != nil {
			return err
		}
		if tg.tls && t.opts.TLS == nil {
			return fmt.Errorf("transport: peer URL %q is https but no peer TLS is configured (--peer-cert-file, --peer-trusted-ca-file or --peer-auto-tls)", u)
		}
		targets[i] = tg
	}
	if id == t.self {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("transport: closed")
	}
	if old := t.peers[id]; old != nil {
		if slices.Equal(old.targets, targets) {
			return nil
		}
		old.stop()
	}
	p := newPeer(t, id, targets)
	t.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
	return nil
}

// RemovePeer stops sending to id and drops what was queued for it. Chunked
// messages in flight fail (a MsgSnap is reported failed).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		p.stop()
		delete(t.peers, id)
	}
}

// Peers returns the IDs of the current peers, sorted.
func (t *Transport) Peers() []uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := make([]uint64, 0, len(t.peers))
	for id := range t.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Send serializes msgs at once (the caller keeps ownership of them) and
// queues them per peer; MsgApps that carry the same entries share one
// encoding of them. It never blocks: a message for a full queue is
// dropped and its peer reported unreachable; a MsgSnap for an unknown peer
// or beyond MaxLargePending is reported failed. After Close it does nothing.
func (t *Transport) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	var enc encoder
	for _, m := range msgs {
		to, snap := m.GetTo(), m.GetType() == raftpb.MsgSnap
		p := t.peers[to]
		if p == nil {
			if snap {
				t.goLocked(func() { t.opts.OnSnapshotStatus(to, false) }, t.opts.OnSnapshotStatus != nil)
			}
			continue
		}
		e, err := enc.encode(m)
		if err != nil {
			// NB: raft built the message; failing to encode it is a bug.
			panic(fmt.Sprintf("transport: marshal %v: %v", m.GetType(), err))
		}
		if snap || e.size() > t.opts.MaxMsgBytes {
			var sm *raftpb.Message
			if snap && t.opts.Snapshots != nil {
				// The goroutine opens the file after Send returns, when
				// the caller may have reused m.
				sm = proto.Clone(m).(*raftpb.Message)
			}
			p.sendLarge(e.joined(), snap, sm)
			continue
		}
		select {
		case p.queue <- e:
		default:
			p.reportUnreachableLocked()
		}
	}
}

// goLocked runs f on a goroutine Close waits for. The caller holds t.mu
// (read or write) and has checked !t.closed, so Add never races with Wait.
func (t *Transport) goLocked(f func(), cond bool) {
	if !cond {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// goTracked is goLocked for callers that do not hold t.mu. It reports false
// (and runs nothing) after Close.
func (t *Transport) goTracked(f func()) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return false
	}
	t.goLocked(f, true)
	return true
}

// Close stops every peer, fails deliveries in progress and waits for the
// transport's goroutines; no callback runs after it returns. It does not
// stop the grpc.Server given to Register.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	for id, p := range t.peers {
		p.stop()
		delete(t.peers, id)
	}
	t.cancel()
	for c := range t.direct {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}
