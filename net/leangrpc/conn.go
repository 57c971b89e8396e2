package leangrpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	// minStreamWindow and connWindow are the receive windows granted to
	// the client, credited back once a quarter is used, so a busy
	// connection sees few WINDOW_UPDATEs. A stream's window also holds two
	// requests of the largest accepted size (Server.streamWindow): a unary
	// request never waits for one, and a streaming handler's unread
	// messages (credited only as RecvMsg takes them) cannot starve the
	// message being received.
	minStreamWindow = 4 << 20
	connWindow      = 64 << 20
	// defaultWindow and defaultMaxFrame are HTTP/2's initial values.
	defaultWindow   = 65535
	defaultMaxFrame = 16384
	// flushAt bounds the write buffer: past it the writer writes without
	// waiting for the queue to empty.
	flushAt = 256 << 10
	// sendQueueLimit is how many bytes one stream may have queued and not
	// yet written before SendMsg waits, so a fast sender (a snapshot)
	// cannot queue a slow client's whole answer in memory.
	sendQueueLimit = 1 << 20
	// maxKeptWriteBuf is the largest write buffer a connection keeps
	// between writes.
	maxKeptWriteBuf = 64 << 10
	// smallBatch is a write small enough that waiting a scheduling round
	// for more is worth it.
	smallBatch = 4096
	// maxQueuedResponses is how many frames answering the client's own
	// (PING and SETTINGS acks, RST_STREAMs, refusals, window updates) the
	// reader queues between two writes before it stops reading until the
	// writer writes: a client that floods them without reading our answers
	// fills its socket, not our memory (grpc-go's limit is the same).
	maxQueuedResponses = 100
	// maxPingStrikes is how many pings against the keepalive policy a
	// client gets away with; the next one ends the connection (grpc-go's
	// figure).
	maxPingStrikes = 2
	// pingWithoutStreamTime is how far apart pings must be while no
	// stream is open, when the policy does not permit them (grpc-go's
	// figure: in effect, not at all).
	pingWithoutStreamTime = 2 * time.Hour
	// idleAckDelay and maxAckDelay bound how long an answer queued
	// quietly (see respondQuietly) waits for a write to carry it: with no
	// unary call in flight, for a request that a client which pinged as
	// answers reached it is about to send; with calls in flight (or once
	// one arrives), for their answers.
	idleAckDelay = time.Millisecond
	maxAckDelay  = 5 * time.Millisecond
)

type itemKind uint8

const (
	itemStream     itemKind = iota // a stream's headers, message and/or trailers
	itemPreface                    // our SETTINGS and connection window
	itemSettings                   // the peer's settings: apply, then ack
	itemPing                       // answer a PING
	itemPingOut                    // a keepalive PING of ours
	itemCredit                     // our WINDOW_UPDATE
	itemPeerWindow                 // the peer's WINDOW_UPDATE
	itemRST                        // RST_STREAM
	itemGoAway                     // GOAWAY
	itemClose                      // flush, then close the connection
)

// outItem is one unit of work for the writer.
type outItem struct {
	kind itemKind
	st   *stream
	id   uint32
	n    uint32 // window increment, error code, or last stream ID
	// itemGoAway: the debug data.
	debug string
	// itemSettings: the peer's new initial window (-1: unchanged) and
	// frame size (0: unchanged).
	initialWindow int64
	maxFrame      uint32
	ping          [8]byte

	// itemStream parts, written in this order.
	headers  []byte
	msg      *[]byte
	off      int
	trailers []byte
	rstAfter bool // the client is still sending: end its half too
}

type conn struct {
	srv       *Server
	nc        net.Conn
	ctx       context.Context // peer info; canceled when the connection ends
	cancel    context.CancelFunc
	closeOnce sync.Once
	done      chan struct{}
	wdone     chan struct{}

	// active is set by every frame read; keepalive clears it.
	active atomic.Bool
	// running counts handlers dispatched and not yet returned.
	running atomic.Int32
	// unaryOpen counts unary calls dispatched whose end (answer queued,
	// or stream dropped) has not been counted yet; it only drops under
	// qmu, so a reader holding qmu sees whether an answer is still to be
	// queued after it.
	unaryOpen atomic.Int32
	// idleSince is when the last stream ended (unix ns), 0 while any is
	// open.
	idleSince atomic.Int64
	// wroteResponse is set by the writer when it writes a stream's
	// frames: the client's next ping is not held against it (a client
	// that is being answered has reason to check the connection).
	wroteResponse atomic.Bool

	// Reader-owned.
	fr   *http2.Framer
	hbuf []byte // a HEADERS frame's payload (readFrame)
	// ping and windowUpdate are the frames readFrame returns for PING and
	// WINDOW_UPDATE.
	ping         http2.PingFrame
	windowUpdate http2.WindowUpdateFrame
	hdec         *hpack.Decoder
	hdr          headerBlock
	mdFields     []mdField // the header block's metadata, as it arrives
	// lastMDFields and mdCtx are the last metadata made into a context,
	// and that context (see incomingContext).
	lastMDFields []mdField
	mdCtx        context.Context
	connUnacked  uint32
	lastPingAt   time.Time
	pingStrikes  int
	// quietTimer wakes the writer for items queued quietly that no write
	// carried in time; quietIdle says it was armed with idleAckDelay, to
	// be extended to maxAckDelay when a unary call arrives.
	quietTimer *time.Timer
	quietIdle  bool

	smu         sync.Mutex
	streams     map[uint32]*stream
	maxStreamID uint32
	goingAway   bool
	closed      bool // close has canceled the streams; later ones cancel themselves

	qmu   sync.Mutex
	queue []outItem
	wake  chan struct{}
	// quietQueued is set (under qmu) when an item was queued without
	// waking the writer; the writer clears it as it takes the queue.
	quietQueued bool
	// writerBlocked is set by the writer while streams wait for window:
	// only then must a peer's WINDOW_UPDATE wake it.
	writerBlocked atomic.Bool
	// responses counts the items respond queued since the writer last
	// wrote; past maxQueuedResponses the reader sets readerWaits (under
	// qmu) and waits on drained, which the writer signals once it has
	// written.
	responses   atomic.Int32
	readerWaits bool
	drained     chan struct{}

	// Writer-owned.
	wbuf              []byte
	spare             []outItem
	sendWindow        int64
	peerInitialWindow int64
	peerMaxFrame      int
	blocked           []*stream
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()})
	c := &conn{
		srv:               s,
		nc:                nc,
		ctx:               ctx,
		cancel:            cancel,
		done:              make(chan struct{}),
		wdone:             make(chan struct{}),
		streams:           make(map[uint32]*stream),
		wake:              make(chan struct{}, 1),
		drained:           make(chan struct{}, 1),
		sendWindow:        defaultWindow,
		peerInitialWindow: defaultWindow,
		peerMaxFrame:      defaultMaxFrame,
	}
	if s.opts.MaxConnectionIdle > 0 {
		c.idleSince.Store(time.Now().UnixNano())
	}
	return c
}

func (c *conn) serve() {
	go c.writeLoop()
	if o := c.srv.opts; o.KeepaliveTime > 0 || o.MaxConnectionIdle > 0 || o.MaxConnectionAge > 0 {
		go c.keepalive()
	}
	if c.readLoop() {
		// The writer flushes the GOAWAY that says why, then closes.
		select {
		case <-c.wdone:
		case <-time.After(time.Second):
		}
	}
	c.close()
	<-c.wdone
	c.srv.forget(c)
	c.srv.readers.Done()
}

// close ends the connection and cancels its calls. A call's context does
// not hang on the connection's (see callCtx): every stream whose handler
// may still run is in c.streams (a stream leaves it when its trailers are
// written, or when it is reset, refused or failed, all of which cancel it),
// so canceling those reaches every handler.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.nc.Close()
		close(c.done)
		c.smu.Lock()
		c.closed = true
		open := make([]*stream, 0, len(c.streams))
		for _, st := range c.streams {
			open = append(open, st)
		}
		c.smu.Unlock()
		for _, st := range open {
			st.cancel()
		}
	})
}

func (c *conn) enqueue(it outItem) {
	c.qmu.Lock()
	c.queue = append(c.queue, it)
	c.qmu.Unlock()
	c.wakeWriter()
}

func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueueUnaryEnd queues the last item of a unary call (nil: the call
// ended with nothing to send) and counts the call as ended, in one
// critical section: an item held quietly before it goes out with it, and
// the last call's end lets held items go when there is nothing to carry
// them.
func (c *conn) enqueueUnaryEnd(it *outItem) {
	c.qmu.Lock()
	if it != nil {
		c.queue = append(c.queue, *it)
	}
	wake := it != nil || (c.unaryOpen.Load() == 1 && c.quietQueued)
	c.unaryOpen.Add(-1)
	c.qmu.Unlock()
	if wake {
		c.wakeWriter()
	}
}

// respondQuietly queues an answer to the client's frames that need not be
// written at once (a PING ack; a WINDOW_UPDATE, unless a stream waits for
// window): it goes out with the next write, which the answers of the unary
// calls in flight, or about to arrive, bring. It waits idleAckDelay, or
// maxAckDelay once a call is in flight (at most both together), and never
// past the reader's limit of queued answers. Reader only.
func (c *conn) respondQuietly(it outItem) {
	n := c.responses.Add(1)
	c.qmu.Lock()
	c.queue = append(c.queue, it)
	quiet := n < maxQueuedResponses && !c.writerBlocked.Load()
	arm := quiet && !c.quietQueued
	if arm {
		c.quietQueued = true
	}
	open := c.unaryOpen.Load()
	c.qmu.Unlock()
	if !quiet {
		c.wakeWriter()
		return
	}
	if arm {
		c.quietIdle = open == 0
		d := maxAckDelay
		if c.quietIdle {
			d = idleAckDelay
		}
		if c.quietTimer == nil {
			c.quietTimer = time.AfterFunc(d, c.quietDue)
		} else {
			c.quietTimer.Reset(d)
		}
	}
}

// quietDue wakes the writer for an item queued quietly that no other
// write has carried yet.
func (c *conn) quietDue() {
	c.qmu.Lock()
	due := c.quietQueued
	c.qmu.Unlock()
	if due {
		c.wakeWriter()
	}
}

// respond queues an item the reader makes in answer to the client's
// frames; they count towards maxQueuedResponses.
func (c *conn) respond(it outItem) {
	c.responses.Add(1)
	c.enqueue(it)
}

// throttle holds the reader while too many of its responses wait for the
// writer (which waits for the client to read); false means the connection
// ended meanwhile.
func (c *conn) throttle() bool {
	if c.responses.Load() < maxQueuedResponses {
		return true
	}
	c.qmu.Lock()
	if c.responses.Load() < maxQueuedResponses {
		c.qmu.Unlock()
		return true
	}
	c.readerWaits = true
	c.qmu.Unlock()
	select {
	case <-c.drained:
		return true
	case <-c.done:
		return false
	}
}

// goAway tells the client to open no more streams and closes the
// connection once the open ones end.
func (c *conn) goAway() {
	c.smu.Lock()
	c.goingAway = true
	last, open := c.maxStreamID, len(c.streams)
	c.smu.Unlock()
	c.enqueue(outItem{kind: itemGoAway, n: last})
	if open == 0 {
		c.enqueue(outItem{kind: itemClose})
	}
}

// readLoop reads frames until the connection fails; true means it ended
// the connection with a GOAWAY the writer still has to send.
func (c *conn) readLoop() bool {
	c.enqueue(outItem{kind: itemPreface})
	br := bufio.NewReaderSize(c.nc, 32<<10)
	var pre [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil || string(pre[:]) != http2.ClientPreface {
		return false
	}
	c.fr = http2.NewFramer(nil, br)
	c.hdec = hpack.NewDecoder(4096, c.emitField)
	c.hdec.SetMaxStringLength(maxHeaderList)
	c.fr.SetReuseFrames()
	// We never raise SETTINGS_MAX_FRAME_SIZE, so a larger frame is a
	// FRAME_SIZE_ERROR (and reading one would cost a buffer of its size).
	c.fr.SetMaxReadFrameSize(defaultMaxFrame)
	for {
		if !c.throttle() {
			return false
		}
		f, hfh, frag, err := c.readFrame(br)
		c.active.Store(true)
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.refuse(se.StreamID, se.Code)
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.connError(http2.ErrCode(ce))
				return true
			}
			if errors.Is(err, http2.ErrFrameTooLarge) {
				c.connError(http2.ErrCodeFrameSize)
				return true
			}
			return false
		}
		if f == nil { // HEADERS
			c.hdr = headerBlock{id: hfh.StreamID, ended: hfh.Flags.Has(http2.FlagHeadersEndStream)}
			if code := c.onHeaderFragment(frag, hfh.Flags.Has(http2.FlagHeadersEndHeaders)); code != http2.ErrCodeNo {
				c.connError(code)
				return true
			}
			continue
		}
		switch f := f.(type) {
		case *http2.ContinuationFrame:
			if code := c.onHeaderFragment(f.HeaderBlockFragment(), f.HeadersEnded()); code != http2.ErrCodeNo {
				c.connError(code)
				return true
			}
		case *http2.DataFrame:
			c.onData(f)
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			it := outItem{kind: itemSettings, initialWindow: -1}
			f.ForeachSetting(func(s http2.Setting) error {
				switch s.ID {
				case http2.SettingInitialWindowSize:
					it.initialWindow = int64(s.Val)
				case http2.SettingMaxFrameSize:
					it.maxFrame = s.Val
				}
				return nil
			})
			c.respond(it)
		case *http2.PingFrame:
			if !f.IsAck() {
				// grpc-go's clients ping as answers arrive (their BDP
				// estimator): the ack rides with the answers still due,
				// which saves a write of its own. The estimator only
				// measures a longer round trip for it, which can keep its
				// window from growing but never shrinks it.
				c.respondQuietly(outItem{kind: itemPing, ping: f.Data})
				if c.tooManyPings() {
					c.enqueue(outItem{kind: itemGoAway, n: c.lastStreamID(), id: uint32(http2.ErrCodeEnhanceYourCalm), debug: "too_many_pings"})
					c.enqueue(outItem{kind: itemClose})
					return true
				}
			}
		case *http2.WindowUpdateFrame:
			// grpc-go's clients send one before each BDP ping; only a
			// writer with streams waiting for window needs it now.
			if f.StreamID == 0 {
				c.respondQuietly(outItem{kind: itemPeerWindow, n: f.Increment})
			} else if st := c.lookup(f.StreamID); st != nil {
				c.respondQuietly(outItem{kind: itemPeerWindow, st: st, n: f.Increment})
			}
		case *http2.RSTStreamFrame:
			if st := c.lookup(f.StreamID); st != nil {
				st.reset.Store(true)
				c.remove(st)
				st.cancel()
			}
		}
	}
}

// readFrame reads the next frame. A HEADERS frame (f nil) it reads itself
// into the connection's buffer and returns as its frame header and header
// block fragment, valid until the next call: the framer would allocate a
// HeadersFrame for each call. PING and WINDOW_UPDATE frames, which
// grpc-go's clients send as answers reach them, it reads into frames the
// connection reuses (valid until the next call too), for the same reason.
// The framer still reads the frame header, so its size limit and its
// HEADERS/CONTINUATION order checks hold, and the payload is checked as
// its parser does, with the same errors.
func (c *conn) readFrame(br *bufio.Reader) (f http2.Frame, fh http2.FrameHeader, frag []byte, err error) {
	fh, err = c.fr.ReadFrameHeader()
	if err != nil {
		return nil, fh, nil, err
	}
	switch fh.Type {
	case http2.FrameHeaders, http2.FramePing, http2.FrameWindowUpdate:
	default:
		f, err = c.fr.ReadFrameForHeader(fh)
		return f, fh, nil, err
	}
	n := int(fh.Length)
	if cap(c.hbuf) < n {
		c.hbuf = make([]byte, n)
	}
	p := c.hbuf[:n]
	if _, err := io.ReadFull(br, p); err != nil {
		return nil, fh, nil, err
	}
	switch fh.Type {
	case http2.FramePing:
		if len(p) != 8 {
			return nil, fh, nil, http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		if fh.StreamID != 0 {
			return nil, fh, nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.ping = http2.PingFrame{FrameHeader: fh}
		copy(c.ping.Data[:], p)
		return &c.ping, fh, nil, nil
	case http2.FrameWindowUpdate:
		if len(p) != 4 {
			return nil, fh, nil, http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		inc := binary.BigEndian.Uint32(p) & 0x7fffffff // the reserved bit is ignored
		if inc == 0 {
			if fh.StreamID == 0 {
				return nil, fh, nil, http2.ConnectionError(http2.ErrCodeProtocol)
			}
			return nil, fh, nil, http2.StreamError{StreamID: fh.StreamID, Code: http2.ErrCodeProtocol}
		}
		c.windowUpdate = http2.WindowUpdateFrame{FrameHeader: fh, Increment: inc}
		return &c.windowUpdate, fh, nil, nil
	}
	if fh.StreamID == 0 {
		return nil, fh, nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	pad := 0
	if fh.Flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 {
			return nil, fh, nil, io.ErrUnexpectedEOF
		}
		pad, p = int(p[0]), p[1:]
	}
	if fh.Flags.Has(http2.FlagHeadersPriority) {
		// The dependency and weight: gRPC has no use for them.
		if len(p) < 5 {
			return nil, fh, nil, io.ErrUnexpectedEOF
		}
		p = p[5:]
	}
	if len(p) < pad {
		return nil, fh, nil, http2.StreamError{StreamID: fh.StreamID, Code: http2.ErrCodeProtocol}
	}
	return nil, fh, p[:len(p)-pad], nil
}

// keepalive pings a client that has sent nothing for KeepaliveTime and
// closes the connection when no frame comes back within KeepaliveTimeout;
// it sends GOAWAY to one that had no stream open for MaxConnectionIdle,
// and to one older than MaxConnectionAge.
// (As grpc-go's server does, with the same option names.)
func (c *conn) keepalive() {
	o := c.srv.opts
	tick := nonZero(0)
	if o.KeepaliveTime > 0 {
		tick = min(o.KeepaliveTime, o.KeepaliveTimeout)
	}
	if o.MaxConnectionIdle > 0 {
		tick = min(tick, max(o.MaxConnectionIdle/4, time.Second))
	}
	var aged <-chan time.Time
	if o.MaxConnectionAge > 0 {
		ageTimer := time.NewTimer(o.MaxConnectionAge)
		defer ageTimer.Stop()
		aged = ageTimer.C
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	quiet := time.Duration(0)
	pingSent := time.Time{}
	for {
		select {
		case <-c.done:
			return
		case <-aged:
			// Old enough: no new streams, and the open ones get the
			// grace period to end.
			c.goAway()
			aged = nil
			if o.MaxConnectionAgeGrace > 0 {
				time.AfterFunc(o.MaxConnectionAgeGrace, c.close)
			}
		case now := <-t.C:
			if o.MaxConnectionIdle > 0 {
				if since := c.idleSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= o.MaxConnectionIdle {
					c.goAway()
					return
				}
			}
			if o.KeepaliveTime <= 0 {
				continue
			}
			if c.active.Swap(false) {
				quiet, pingSent = 0, time.Time{}
				continue
			}
			if !pingSent.IsZero() {
				if now.Sub(pingSent) >= nonZero(o.KeepaliveTimeout) {
					c.close()
					return
				}
				continue
			}
			quiet += tick
			if quiet >= o.KeepaliveTime {
				pingSent = now
				c.enqueue(outItem{kind: itemPingOut})
			}
		}
	}
}

// tooManyPings applies the keepalive enforcement policy to a ping just
// received; true means the client is past its strikes.
func (c *conn) tooManyPings() bool {
	now := time.Now()
	last := c.lastPingAt
	c.lastPingAt = now
	if c.wroteResponse.Swap(false) {
		c.pingStrikes = 0
		return false
	}
	o := c.srv.opts
	minGap := o.KeepaliveMinTime
	if !o.KeepalivePermitWithoutStream {
		c.smu.Lock()
		open := len(c.streams)
		c.smu.Unlock()
		if open == 0 {
			minGap = pingWithoutStreamTime
		}
	}
	if !last.IsZero() && now.Sub(last) < minGap {
		c.pingStrikes++
	}
	return c.pingStrikes > maxPingStrikes
}

// nonZero makes an unset duration never elapse.
func nonZero(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return d
}

// connError ends the connection with a GOAWAY saying why.
func (c *conn) connError(code http2.ErrCode) {
	c.enqueue(outItem{kind: itemGoAway, n: c.lastStreamID(), id: uint32(code)})
	c.enqueue(outItem{kind: itemClose})
}

func (c *conn) lastStreamID() uint32 {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.maxStreamID
}

func (c *conn) lookup(id uint32) *stream {
	c.smu.Lock()
	st := c.streams[id]
	c.smu.Unlock()
	return st
}

func (c *conn) remove(st *stream) {
	c.smu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	closeNow := c.goingAway && len(c.streams) == 0
	if len(c.streams) == 0 && c.srv.opts.MaxConnectionIdle > 0 {
		c.idleSince.Store(time.Now().UnixNano())
	}
	c.smu.Unlock()
	if closeNow {
		c.enqueue(outItem{kind: itemClose})
	}
}

// refuse ends a stream the server will not serve.
func (c *conn) refuse(id uint32, code http2.ErrCode) {
	if st := c.lookup(id); st != nil {
		st.reset.Store(true)
		c.remove(st)
		st.cancel()
	}
	c.respond(outItem{kind: itemRST, id: id, n: uint32(code)})
}

// answer ends a stream that never reached a handler with a trailers-only
// response.
func (c *conn) answer(id uint32, st *status.Status, rst bool) {
	c.respond(outItem{kind: itemStream, st: &stream{id: id}, trailers: trailerBlock(st, nil, true), rstAfter: rst})
}

// headerBlock is the request header block being decoded: the fields gRPC
// reads, kept on the connection so decoding one allocates nothing but the
// strings HPACK literals carry. The metadata fields are only collected
// here (in the connection's mdFields); onHeaders turns them into metadata.
type headerBlock struct {
	id                           uint32
	ended                        bool
	size                         int
	path, method, ctype, timeout string
}

// mdField is one metadata header as it arrived (a -bin value still
// base64-encoded).
type mdField struct{ name, value string }

// maxReusedMD bounds the metadata (HPACK-counted bytes) a connection keeps
// for reuse between requests, so one request's huge metadata is not held
// for the connection's life.
const maxReusedMD = 4 << 10

// maxKeptMDFields is the most metadata fields whose array a connection
// keeps between header blocks.
const maxKeptMDFields = 64

// maxHeaderList bounds a request's header block (decoded, with HPACK's 32
// bytes of overhead per field), as SETTINGS_MAX_HEADER_LIST_SIZE would.
const maxHeaderList = 1 << 20

func (c *conn) emitField(f hpack.HeaderField) {
	h := &c.hdr
	h.size += len(f.Name) + len(f.Value) + 32
	if h.size > maxHeaderList {
		return
	}
	switch f.Name {
	case ":path":
		h.path = f.Value
	case ":method":
		h.method = f.Value
	case "content-type":
		h.ctype = f.Value
	case "grpc-timeout":
		h.timeout = f.Value
	case ":scheme", ":authority", "te", "grpc-encoding", "grpc-accept-encoding":
	default:
		if f.Name == "" || f.Name[0] == ':' {
			return
		}
		c.mdFields = append(c.mdFields, mdField{f.Name, f.Value})
	}
}

// incomingContext returns the connection's context with the header
// block's metadata (c.mdFields) attached, or the bare connection context
// when there is none. A client sends the same metadata on every call
// (grpc-go: user-agent; etcd's client adds its API version), so the last
// block's metadata and context are kept and reused while the fields are
// unchanged: that saves a map, a slice per field and a context per call.
// Sharing is safe because handlers cannot reach the map itself: grpc-go's
// metadata.FromIncomingContext and ValueFromIncomingContext hand out
// copies.
func (c *conn) incomingContext() context.Context {
	fields := c.mdFields
	if len(fields) == 0 {
		return c.ctx
	}
	if c.mdCtx != nil && slices.Equal(fields, c.lastMDFields) {
		return c.mdCtx
	}
	md := make(metadata.MD, len(fields))
	size := 0
	for _, f := range fields {
		size += len(f.name) + len(f.value) + 32
		v := f.value
		if strings.HasSuffix(f.name, "-bin") {
			var err error
			if v, err = decodeBinary(v); err != nil {
				continue
			}
		}
		md[f.name] = append(md[f.name], v)
	}
	ctx := metadata.NewIncomingContext(c.ctx, md)
	if size > maxReusedMD {
		c.mdCtx, c.lastMDFields = nil, c.lastMDFields[:0]
		return ctx
	}
	c.mdCtx = ctx
	c.lastMDFields = append(c.lastMDFields[:0], fields...)
	return ctx
}

// onHeaderFragment decodes one HEADERS or CONTINUATION fragment. It
// returns the error code of a broken connection: HPACK state lost, or a
// header block that goes on far past maxHeaderList (a CONTINUATION flood,
// which decoding to the end would let run forever).
func (c *conn) onHeaderFragment(frag []byte, end bool) http2.ErrCode {
	if _, err := c.hdec.Write(frag); err != nil {
		return http2.ErrCodeCompression
	}
	if c.hdr.size > 2*maxHeaderList {
		return http2.ErrCodeEnhanceYourCalm
	}
	if !end {
		return http2.ErrCodeNo
	}
	if err := c.hdec.Close(); err != nil {
		return http2.ErrCodeCompression
	}
	c.onHeaders()
	c.hdr = headerBlock{}
	clear(c.mdFields)
	c.mdFields = c.mdFields[:0]
	if cap(c.mdFields) > maxKeptMDFields {
		c.mdFields = nil // a flood of fields should not pin its array
	}
	return http2.ErrCodeNo
}

func (c *conn) onHeaders() {
	h := &c.hdr
	id := h.id
	c.smu.Lock()
	if st := c.streams[id]; st != nil {
		c.smu.Unlock()
		// The client's trailers: they carry nothing gRPC uses, but end
		// its half of the stream.
		if h.ended {
			c.endOfInput(st)
		}
		return
	}
	if id <= c.maxStreamID || id%2 == 0 {
		c.smu.Unlock()
		return // a stream already over
	}
	c.maxStreamID = id
	// Handlers still running count too: a stream reset by the client
	// leaves the map at once, its handler only when it returns (a client
	// opening and resetting streams in a loop is held to the limit).
	limit := c.srv.opts.MaxConcurrentStreams
	refused := c.goingAway || (limit > 0 && (uint32(len(c.streams)) >= limit || uint32(c.running.Load()) >= limit))
	c.smu.Unlock()
	if refused {
		c.respond(outItem{kind: itemRST, id: id, n: uint32(http2.ErrCodeRefusedStream)})
		return
	}
	if h.size > maxHeaderList {
		c.answer(id, status.New(codes.ResourceExhausted, "leangrpc: header list too large"), !h.ended)
		return
	}
	path, method, ctype, timeout := h.path, h.method, h.ctype, h.timeout
	ended := h.ended
	if method != "POST" || !strings.HasPrefix(ctype, "application/grpc") {
		c.answer(id, status.Newf(codes.Internal, "leangrpc: not a gRPC request (method %q, content-type %q)", method, ctype), !ended)
		return
	}
	m := c.srv.methods[path]
	if m == nil {
		c.answer(id, unknownMethod(path), !ended)
		return
	}

	st := &stream{c: c, id: id, m: m}
	// The metadata's context is the parent, below the call's own context,
	// so that it can be shared by calls (incomingContext).
	parent := c.incomingContext()
	if transportStreamKey == nil {
		parent = grpc.NewContextWithServerTransportStream(parent, st)
	}
	st.cctx.init(st, parent)
	if d, ok := parseTimeout(timeout); ok {
		st.cctx.withDeadline(d)
	}
	if m.stream != nil {
		st.streamIO = &streamIO{rnotify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	}
	c.smu.Lock()
	c.streams[id] = st
	c.idleSince.Store(0)
	closed := c.closed
	c.smu.Unlock()
	if closed {
		st.cancel() // close canceled the streams it found; this one came after
	}
	if m.stream != nil {
		c.dispatch(task{st: st})
	}
	if ended {
		c.endOfInput(st)
	}
}

func unknownMethod(path string) *status.Status {
	svc, name, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok {
		return status.Newf(codes.Unimplemented, "malformed method name: %q", path)
	}
	return status.Newf(codes.Unimplemented, "unknown method %s for service %s", name, svc)
}

func (c *conn) onData(f *http2.DataFrame) {
	n := f.Header().Length
	if n > 0 {
		c.connUnacked += n
		if c.connUnacked >= connWindow/4 {
			c.respond(outItem{kind: itemCredit, n: c.connUnacked})
			c.connUnacked = 0
		}
	}
	st := c.lookup(f.StreamID)
	if st == nil {
		return // over, reset, or refused: its bytes only count for the connection
	}
	// The connection window needs no such check: it is credited as bytes
	// arrive, so it can never be overrun by a frame of at most 16 KiB.
	if st.recvHeld.Add(int64(n)) > int64(c.srv.streamWindow) {
		putBuf(st.msg)
		st.msg = nil
		c.refuse(st.id, http2.ErrCodeFlowControl)
		return
	}
	if n > 0 && !f.StreamEnded() {
		// A unary call's bytes are credited as they arrive (its one
		// message is bounded by MaxRecvMsgSize); a streaming call's
		// messages when its handler reads them, so a client cannot queue
		// more than a window of them in memory.
		credit := n
		if st.m.stream != nil && !st.bad {
			credit = n - uint32(len(f.Data())) // padding
		}
		st.credit(credit)
	}
	// inputDone is set before the message is delivered: a handler that
	// answers at once must know the client has finished, or it would
	// follow its answer with a needless RST_STREAM.
	ended := f.StreamEnded() && !st.inputDone.Swap(true)
	if !st.bad {
		c.feed(st, f.Data())
	}
	if ended {
		c.inputEnded(st)
	}
}

// feed cuts data into gRPC messages (a 5-byte prefix: compressed flag and
// big-endian length) and delivers each complete one.
func (c *conn) feed(st *stream, data []byte) {
	for len(data) > 0 && !st.bad {
		if st.msg == nil {
			k := copy(st.prefix[st.nprefix:], data)
			st.nprefix += uint8(k)
			data = data[k:]
			if int(st.nprefix) < len(st.prefix) {
				return
			}
			st.nprefix = 0
			if st.prefix[0] != 0 {
				c.failInput(st, status.New(codes.Unimplemented, "leangrpc: compressed messages are not supported"))
				return
			}
			size := binary.BigEndian.Uint32(st.prefix[1:])
			if int64(size) > int64(c.srv.opts.MaxRecvMsgSize) {
				c.failInput(st, status.Newf(codes.ResourceExhausted,
					"grpc: received message larger than max (%d vs. %d)", size, c.srv.opts.MaxRecvMsgSize))
				return
			}
			st.msg = getBuf()
			if cap(*st.msg) < int(size) {
				*st.msg = make([]byte, 0, size)
			}
			st.want = size
		}
		k := min(int(st.want)-len(*st.msg), len(data))
		*st.msg = append(*st.msg, data[:k]...)
		data = data[k:]
		if len(*st.msg) == int(st.want) {
			msg := st.msg
			st.msg = nil
			c.deliver(st, msg)
		}
	}
}

func (c *conn) deliver(st *stream, msg *[]byte) {
	if st.m.stream != nil {
		st.push(msg, nil)
		return
	}
	if st.dispatched {
		putBuf(msg) // a unary call reads one message; grpc-go ignores the rest too
		return
	}
	st.dispatched = true
	c.dispatch(task{st: st, msg: msg})
}

// endOfInput handles the client's END_STREAM.
func (c *conn) endOfInput(st *stream) {
	if !st.inputDone.Swap(true) {
		c.inputEnded(st)
	}
}

// inputEnded handles the client's END_STREAM once inputDone is set.
func (c *conn) inputEnded(st *stream) {
	if st.bad {
		return
	}
	partial := st.msg != nil || st.nprefix > 0
	if partial {
		putBuf(st.msg)
		st.msg = nil
		c.failInput(st, status.New(codes.Internal, "leangrpc: stream ended inside a message"))
		return
	}
	if st.m.stream != nil {
		st.push(nil, io.EOF)
		return
	}
	if !st.dispatched {
		c.failInput(st, status.New(codes.Internal, "leangrpc: no request message"))
	}
}

// failInput ends a stream whose input is unusable: a unary call not yet
// dispatched is answered here; a streaming handler sees the error from
// RecvMsg and returns it.
func (c *conn) failInput(st *stream, s *status.Status) {
	st.bad = true
	putBuf(st.msg)
	st.msg = nil
	if st.m.stream != nil {
		st.push(nil, s.Err())
		return
	}
	if st.dispatched {
		return
	}
	st.dispatched = true
	c.remove(st)
	st.cancel()
	c.answer(st.id, s, !st.inputDone.Load())
}

// task is one call for a worker.
type task struct {
	st  *stream
	msg *[]byte
}

func (t task) run() {
	defer t.st.c.running.Add(-1)
	if t.st.m.stream != nil {
		t.st.runStream()
		return
	}
	t.st.runUnary(t.msg)
}

func (c *conn) dispatch(t task) {
	c.running.Add(1)
	if t.st.m.stream == nil {
		c.unaryOpen.Add(1)
		if c.quietIdle {
			// An answer is now due: what waits quietly can wait for it.
			c.quietIdle = false
			c.quietTimer.Reset(maxAckDelay)
		}
	}
	if c.srv.work != nil {
		select {
		case c.srv.work <- t:
			return
		default:
		}
	}
	go t.run()
}

// writeLoop writes what the queue holds, batching every item queued
// meanwhile into one write.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		yielded := false
		for {
			c.qmu.Lock()
			items := c.queue
			c.queue = c.spare
			c.quietQueued = false
			c.qmu.Unlock()
			if len(items) == 0 {
				c.spare = items
				// A write syscall costs more than the frames in it: with
				// little to write, let the handlers that are running add
				// their answers first.
				if !yielded && len(c.wbuf) < smallBatch {
					yielded = true
					runtime.Gosched()
					continue
				}
				break
			}
			for i := range items {
				if !c.process(&items[i]) {
					return
				}
				items[i] = outItem{}
			}
			c.spare = items[:0]
			if blocked := len(c.blocked) > 0; blocked != c.writerBlocked.Load() {
				c.writerBlocked.Store(blocked)
			}
			if len(c.wbuf) >= flushAt && !c.flush() {
				return
			}
		}
		if !c.flush() {
			return
		}
	}
}

func (c *conn) flush() bool {
	if len(c.wbuf) > 0 {
		_, err := c.nc.Write(c.wbuf)
		if cap(c.wbuf) > maxKeptWriteBuf {
			c.wbuf = nil // one large answer should not pin its buffer on an idle connection
		} else {
			c.wbuf = c.wbuf[:0]
		}
		if err != nil {
			c.close()
			return false
		}
	}
	if c.responses.Load() != 0 {
		c.answersWritten()
	}
	return true
}

// answersWritten lets the reader go on: the answers it queued are written,
// or are being processed (at most another maxQueuedResponses of them queue
// meanwhile).
func (c *conn) answersWritten() {
	c.qmu.Lock()
	c.responses.Store(0)
	if c.readerWaits {
		c.readerWaits = false
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
	c.qmu.Unlock()
}

// process encodes one item; false means the connection is over.
func (c *conn) process(it *outItem) bool {
	switch it.kind {
	case itemPreface:
		limit := c.srv.opts.MaxConcurrentStreams
		n := 6
		if limit > 0 {
			n = 12
		}
		c.wbuf = appendFrameHeader(c.wbuf, n, http2.FrameSettings, 0, 0)
		c.wbuf = append(c.wbuf, 0, byte(http2.SettingInitialWindowSize))
		c.wbuf = appendUint32(c.wbuf, c.srv.streamWindow)
		if limit > 0 {
			c.wbuf = append(c.wbuf, 0, byte(http2.SettingMaxConcurrentStreams))
			c.wbuf = appendUint32(c.wbuf, limit)
		}
		c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameWindowUpdate, 0, 0)
		c.wbuf = appendUint32(c.wbuf, connWindow-defaultWindow)
	case itemSettings:
		if it.initialWindow >= 0 {
			c.peerInitialWindow = it.initialWindow
		}
		if it.maxFrame > 0 {
			c.peerMaxFrame = int(it.maxFrame)
		}
		c.wbuf = appendFrameHeader(c.wbuf, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
		c.retryBlocked()
	case itemPing:
		c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FramePing, http2.FlagPingAck, 0)
		c.wbuf = append(c.wbuf, it.ping[:]...)
	case itemPingOut:
		c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FramePing, 0, 0)
		c.wbuf = append(c.wbuf, it.ping[:]...)
	case itemCredit:
		c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameWindowUpdate, 0, it.id)
		c.wbuf = appendUint32(c.wbuf, it.n)
	case itemPeerWindow:
		// A window past 2^31-1 is a FLOW_CONTROL_ERROR (RFC 9113 §6.9.1):
		// the connection's ends it, a stream's resets the stream.
		if it.st == nil {
			c.sendWindow += int64(it.n)
			if c.sendWindow > math.MaxInt32 {
				c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FrameGoAway, 0, 0)
				c.wbuf = appendUint32(c.wbuf, c.lastStreamID())
				c.wbuf = appendUint32(c.wbuf, uint32(http2.ErrCodeFlowControl))
				c.flush()
				c.close()
				return false
			}
		} else {
			st := it.st
			st.sendDelta += int64(it.n)
			if c.peerInitialWindow+st.sendDelta > math.MaxInt32 && !st.reset.Swap(true) {
				c.remove(st)
				st.cancel()
				c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameRSTStream, 0, st.id)
				c.wbuf = appendUint32(c.wbuf, uint32(http2.ErrCodeFlowControl))
			}
		}
		c.retryBlocked()
	case itemRST:
		c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameRSTStream, 0, it.id)
		c.wbuf = appendUint32(c.wbuf, it.n)
	case itemGoAway:
		c.wbuf = appendFrameHeader(c.wbuf, 8+len(it.debug), http2.FrameGoAway, 0, 0)
		c.wbuf = appendUint32(c.wbuf, it.n)
		c.wbuf = appendUint32(c.wbuf, it.id)
		c.wbuf = append(c.wbuf, it.debug...)
	case itemClose:
		c.flush()
		c.close()
		return false
	case itemStream:
		st := it.st
		if st.reset.Load() {
			c.drop(it)
			return true
		}
		if st.hasPending() {
			st.pending.items = append(st.pending.items, *it)
			return true
		}
		if !c.writeStream(st, it) {
			if st.pending == nil {
				st.pending = &pendingWrites{}
			}
			st.pending.items = append(st.pending.items, *it)
			c.blocked = append(c.blocked, st)
		}
	}
	return true
}

// writeStream writes what of it the windows allow; false means the rest
// waits for a WINDOW_UPDATE (it records how far it got).
func (c *conn) writeStream(st *stream, it *outItem) bool {
	if !c.wroteResponse.Load() {
		c.wroteResponse.Store(true)
	}
	if it.headers != nil {
		c.appendHeaderBlock(st.id, it.headers, false)
		it.headers = nil
	}
	if it.msg != nil {
		b := *it.msg
		for it.off < len(b) {
			win := min(c.sendWindow, c.peerInitialWindow+st.sendDelta)
			if win <= 0 {
				return false
			}
			n := min(len(b)-it.off, c.peerMaxFrame, int(win))
			c.wbuf = appendFrameHeader(c.wbuf, n, http2.FrameData, 0, st.id)
			c.wbuf = append(c.wbuf, b[it.off:it.off+n]...)
			it.off += n
			c.sendWindow -= int64(n)
			st.sendDelta -= int64(n)
			if len(c.wbuf) >= flushAt && !c.flush() {
				return true // the connection is over; nothing waits any more
			}
		}
		st.sent(len(b))
		putBuf(it.msg)
		it.msg = nil
	}
	if it.trailers != nil {
		c.appendHeaderBlock(st.id, it.trailers, true)
		it.trailers = nil
		// Only now: until its last byte is written, the stream must be
		// found by the WINDOW_UPDATEs that let it be.
		c.remove(st)
	}
	if it.rstAfter {
		c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameRSTStream, 0, st.id)
		c.wbuf = appendUint32(c.wbuf, uint32(http2.ErrCodeNo))
	}
	return true
}

// appendHeaderBlock writes a header block as HEADERS and as many
// CONTINUATION frames as the peer's frame size needs.
func (c *conn) appendHeaderBlock(id uint32, block []byte, endStream bool) {
	typ := http2.FrameHeaders
	var flags http2.Flags
	if endStream {
		flags = http2.FlagHeadersEndStream
	}
	for {
		n := min(len(block), c.peerMaxFrame)
		f := flags
		if n == len(block) {
			f |= http2.FlagHeadersEndHeaders // same bit as CONTINUATION's END_HEADERS
		}
		c.wbuf = appendFrameHeader(c.wbuf, n, typ, f, id)
		c.wbuf = append(c.wbuf, block[:n]...)
		block = block[n:]
		if len(block) == 0 {
			return
		}
		typ, flags = http2.FrameContinuation, 0
	}
}

func (c *conn) drop(it *outItem) {
	if it.msg != nil {
		it.st.sent(len(*it.msg))
		putBuf(it.msg)
		it.msg = nil
	}
	if it.trailers != nil {
		c.remove(it.st)
	}
}

// retryBlocked writes what waited for window, in the order it was queued.
func (c *conn) retryBlocked() {
	kept := c.blocked[:0]
	for _, st := range c.blocked {
		for st.hasPending() {
			q := st.pending
			if st.reset.Load() {
				c.drop(&q.items[0])
			} else if !c.writeStream(st, &q.items[0]) {
				break
			}
			q.items[0] = outItem{}
			q.items = q.items[1:]
		}
		if st.hasPending() {
			kept = append(kept, st)
		}
	}
	clear(c.blocked[len(kept):])
	c.blocked = kept
}

// streamIO is what a streaming call needs besides a unary call's state.
type streamIO struct {
	// Messages received and not yet read.
	rmu     sync.Mutex
	rq      []*[]byte
	rerr    error
	rnotify chan struct{}
	// Bytes queued by SendMsg and not yet written, and the signal that
	// they dropped under sendQueueLimit.
	queued atomic.Int64
	space  chan struct{}
}

// stream is one call.
type stream struct {
	c    *conn
	id   uint32
	want uint32 // reader-owned: the size of the message being received
	m    *method
	cctx callCtx // the call's context

	reset     atomic.Bool // the client reset it, or the connection ended
	inputDone atomic.Bool // the client's END_STREAM arrived

	// Bytes received and not yet credited back with a WINDOW_UPDATE.
	recvUnacked atomic.Uint32
	// recvHeld is how much of the window granted the stream's received
	// bytes use: more than the window is the client ignoring flow
	// control (RFC 9113 §6.9.1).
	recvHeld atomic.Int64

	// Reader-owned.
	prefix     [5]byte
	nprefix    uint8
	dispatched bool
	bad        bool
	msg        *[]byte

	// Streaming calls only (nil for unary ones, which need none of it).
	*streamIO

	// Handler-owned.
	headerMD    metadata.MD
	trailerMD   metadata.MD
	headersSent bool

	// Writer-owned.
	sendDelta int64 // window: the peer's initial window plus this
	pending   *pendingWrites
}

// pendingWrites is what of a stream waits for window, in order; made the
// first time some has to wait (a unary answer seldom does).
type pendingWrites struct{ items []outItem }

func (st *stream) hasPending() bool { return st.pending != nil && len(st.pending.items) > 0 }

func (st *stream) push(msg *[]byte, err error) {
	st.rmu.Lock()
	if msg != nil {
		st.rq = append(st.rq, msg)
	} else if st.rerr == nil {
		st.rerr = err
	}
	st.rmu.Unlock()
	select {
	case st.rnotify <- struct{}{}:
	default:
	}
}

// credit gives n received bytes back to the client's window for st, in
// WINDOW_UPDATEs of at least a quarter window.
func (st *stream) credit(n uint32) {
	if n == 0 {
		return
	}
	quarter := st.c.srv.streamWindow / 4
	if total := st.recvUnacked.Add(n); total >= quarter {
		st.recvUnacked.Add(-total)
		st.recvHeld.Add(-int64(total))
		st.c.enqueue(outItem{kind: itemCredit, id: st.id, n: total})
	}
}

// sent is told n bytes of SendMsg's queue were written or dropped.
func (st *stream) sent(n int) {
	if st.streamIO == nil {
		return
	}
	if st.queued.Add(int64(-n)) <= sendQueueLimit {
		select {
		case st.space <- struct{}{}:
		default:
		}
	}
}

func (st *stream) runUnary(msg *[]byte) {
	dec := func(v any) error { return unmarshalMessage(*msg, v, st.c.srv.opts.Unmarshal) }
	resp, err := st.m.unary(st.m.impl, &st.cctx, dec, st.c.srv.unaryInt)
	putBuf(msg)
	if err != nil {
		st.finish(err)
		return
	}
	bp, err := marshalMessage(resp, st.c.srv.opts.Marshal)
	if err != nil {
		st.finish(err)
		return
	}
	st.c.enqueueUnaryEnd(&outItem{
		kind:     itemStream,
		st:       st,
		headers:  st.takeHeaders(),
		msg:      bp,
		trailers: trailerBlock(nil, st.trailerMD, false),
		rstAfter: !st.inputDone.Load(),
	})
	st.end()
}

func (st *stream) runStream() {
	ss := serverStream{st}
	var err error
	if si := st.c.srv.streamInt; si != nil {
		err = si(st.m.impl, ss, st.m.streamInfo, st.m.stream)
	} else {
		err = st.m.stream(st.m.impl, ss)
	}
	st.finish(err)
}

// finish sends the call's status as trailers (with the headers, when none
// went out yet) and ends the stream.
func (st *stream) finish(err error) {
	s := toStatus(err)
	if !st.reset.Load() {
		only := !st.headersSent
		md := st.trailerMD
		if only && st.headerMD != nil {
			md = metadata.Join(st.headerMD, md)
		}
		st.headersSent = true
		it := outItem{kind: itemStream, st: st, trailers: trailerBlock(s, md, only), rstAfter: !st.inputDone.Load()}
		if st.m.stream != nil {
			st.c.enqueue(it)
		} else {
			st.c.enqueueUnaryEnd(&it)
		}
	} else {
		st.c.remove(st)
		if st.m.stream == nil {
			st.c.enqueueUnaryEnd(nil)
		}
	}
	st.end()
}

// end releases the call's context; the writer forgets the stream once its
// trailers are written.
func (st *stream) end() {
	st.cancel()
}

// cancel ends the call's context: the client reset the stream, the
// connection ended, or the call is over.
func (st *stream) cancel() { st.cctx.cancel(context.Canceled) }

// toStatus is err's status, nil for OK.
func toStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err)
	}
	return status.New(codes.Unknown, err.Error())
}

// takeHeaders returns the response header block if it has not gone out.
func (st *stream) takeHeaders() []byte {
	if st.headersSent {
		return nil
	}
	st.headersSent = true
	if len(st.headerMD) == 0 {
		return respHeaders
	}
	return appendMD(appendResponseHeaders(nil), st.headerMD)
}

// The grpc.ServerTransportStream methods: grpc.SetHeader and friends on a
// handler's context reach them.

func (st *stream) Method() string { return st.m.fullName }

func (st *stream) SetHeader(md metadata.MD) error {
	if st.headersSent {
		return status.Error(codes.Internal, "leangrpc: headers already sent")
	}
	st.headerMD = metadata.Join(st.headerMD, md)
	return nil
}

func (st *stream) SendHeader(md metadata.MD) error {
	if err := st.SetHeader(md); err != nil {
		return err
	}
	st.c.enqueue(outItem{kind: itemStream, st: st, headers: st.takeHeaders()})
	return nil
}

func (st *stream) SetTrailer(md metadata.MD) error {
	st.trailerMD = metadata.Join(st.trailerMD, md)
	return nil
}

// serverStream is the grpc.ServerStream a streaming handler gets.
type serverStream struct{ *stream }

var _ grpc.ServerStream = serverStream{}

func (ss serverStream) Context() context.Context { return &ss.cctx }

func (ss serverStream) SetTrailer(md metadata.MD) { ss.stream.SetTrailer(md) }

func (ss serverStream) SendMsg(m any) error {
	st := ss.stream
	if err := st.cctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	bp, err := marshalMessage(m, st.c.srv.opts.Marshal)
	if err != nil {
		return err
	}
	st.queued.Add(int64(len(*bp)))
	st.c.enqueue(outItem{kind: itemStream, st: st, headers: st.takeHeaders(), msg: bp})
	for st.queued.Load() > sendQueueLimit {
		select {
		case <-st.space:
		case <-st.cctx.Done():
			return status.FromContextError(st.cctx.Err()).Err()
		}
	}
	return nil
}

func (ss serverStream) RecvMsg(m any) error {
	st := ss.stream
	for {
		st.rmu.Lock()
		if len(st.rq) > 0 {
			bp := st.rq[0]
			st.rq[0] = nil
			st.rq = st.rq[1:]
			st.rmu.Unlock()
			if !st.inputDone.Load() {
				st.credit(uint32(len(*bp) + 5))
			}
			err := unmarshalMessage(*bp, m, st.c.srv.opts.Unmarshal)
			putBuf(bp)
			return err
		}
		err := st.rerr
		st.rmu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-st.rnotify:
		case <-st.cctx.Done():
			return status.FromContextError(st.cctx.Err()).Err()
		}
	}
}
