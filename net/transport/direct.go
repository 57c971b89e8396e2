package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc/status"
)

// The direct stream carries what the gRPC Message stream carries, without
// HTTP/2: a gRPC message costs each side a frame header, a handoff to
// grpc-go's writer goroutine and a flush per message, which on a 3-member
// cluster was a quarter of the leader's CPU. It is a plain TCP connection
// to the peer URL (http only; https peers keep gRPC):
//
//	sender:   directMagic, then three uvarint-length-prefixed fields:
//	          cluster token, cluster ID (hex), sender member ID (hex)
//	receiver: directMagic, then a status byte: 0 accepted, or 1 followed
//	          by a uvarint-length-prefixed reason, after which it closes
//	sender:   frames, each a uvarint length and a marshalled raftpb.Message
//
// The receiver never writes after its answer; it closes the connection to
// end it. Whatever the sender finds queued goes out in one write. A member
// that predates the direct stream answers with its HTTP/2 preface instead
// of directMagic, and the sender then uses the gRPC Message stream.
const directMagic = "MSRAFT\x00\x01" // name, version 1

// errNoDirect says the peer does not speak the direct stream.
var errNoDirect = errors.New("transport: peer does not speak the direct stream")

// directBufBytes sizes the buffered reader and writer of a direct stream:
// a burst of appends goes out in one write and is read in one read.
const directBufBytes = 64 << 10

// directDialTimeout bounds a connection attempt, as gRPC's
// MinConnectTimeout did for the Message stream.
const directDialTimeout = 5 * time.Second

// directHandshakeTimeout bounds the exchange of header and answer.
const directHandshakeTimeout = 10 * time.Second

// Listener returns a listener for the peer grpc.Server: connections that
// open a direct stream are served by t, every other one is passed on to
// Accept with its first bytes intact. TLS connections (a *tls.Conn from a
// tls.NewListener) are passed on untouched. Closing it closes l.
func (t *Transport) Listener(l net.Listener) net.Listener {
	dl := &directListener{Listener: l, t: t, conns: make(chan net.Conn), done: make(chan struct{})}
	go dl.acceptLoop()
	return dl
}

type directListener struct {
	net.Listener
	t     *Transport
	conns chan net.Conn
	done  chan struct{} // closed when acceptLoop ends; err says why

	err    error // why acceptLoop ended
	closed bool  // Close was called; guarded by t.mu
}

func (dl *directListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := dl.Listener.Accept()
		if err != nil {
			// Retry what grpc.Server.Serve retries (EMFILE, ENFILE,
			// timeouts): ending here would leave Serve retrying a
			// listener that is gone for good.
			if ne, ok := err.(interface{ Temporary() bool }); ok && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			dl.err = err
			close(dl.done)
			return
		}
		delay = 0
		if _, isTLS := c.(*tls.Conn); isTLS {
			dl.pass(c)
			continue
		}
		go dl.sniff(c)
	}
}

// sniff reads the first bytes of c and serves a direct stream or passes c
// on (an HTTP/2 client sends its 24-byte preface at once, so reading the
// magic's length never waits on a gRPC client).
func (dl *directListener) sniff(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(directHandshakeTimeout))
	head := make([]byte, len(directMagic))
	n, err := io.ReadFull(c, head)
	if err != nil && n == 0 {
		c.Close()
		return
	}
	if err == nil && string(head) == directMagic {
		dl.t.serveDirect(c, dl)
		return
	}
	c.SetReadDeadline(time.Time{})
	dl.pass(&prefixedConn{Conn: c, prefix: head[:n]})
}

func (dl *directListener) pass(c net.Conn) {
	select {
	case dl.conns <- c:
	case <-dl.done:
		c.Close()
	}
}

// Close closes the listener and the direct streams it accepted, as
// grpc.Server.Stop closes the connections it serves.
func (dl *directListener) Close() error {
	err := dl.Listener.Close()
	dl.t.mu.Lock()
	defer dl.t.mu.Unlock()
	dl.closed = true
	for c, from := range dl.t.direct {
		if from == dl {
			c.Close()
		}
	}
	return err
}

func (dl *directListener) Accept() (net.Conn, error) {
	select {
	case c := <-dl.conns:
		return c, nil
	case <-dl.done:
		return nil, dl.err
	}
}

// prefixedConn replays the bytes sniff read before the rest of the conn.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// serveDirect runs one direct stream whose magic has been read: it checks
// the header, answers, then delivers every frame until the sender closes
// or t closes.
func (t *Transport) serveDirect(c net.Conn, dl *directListener) {
	if !t.trackDirect(c, dl) {
		c.Close()
		return
	}
	defer func() {
		t.trackDirect(c, nil)
		c.Close()
	}()
	r := bufio.NewReaderSize(c, directBufBytes)
	var fields [3]string
	for i := range fields {
		b, err := readField(r, 1<<10)
		if err != nil {
			return
		}
		fields[i] = string(b)
	}
	from, err := t.check(fields[0], fields[1], fields[2])
	answer := append([]byte(directMagic), 0)
	if err != nil {
		answer[len(answer)-1] = 1
		msg := status.Convert(err).Message()
		answer = binary.AppendUvarint(answer, uint64(len(msg)))
		answer = append(answer, msg...)
	}
	c.SetWriteDeadline(time.Now().Add(directHandshakeTimeout))
	if _, werr := c.Write(answer); werr != nil || err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	t.opts.Logger.Debug("direct peer stream opened", "from", from)
	limit := t.opts.frameBytes()
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(limit) {
			return
		}
		// NB: each frame gets its own buffer, which the decoded message
		// keeps (its entries' data are slices of it): a shared buffer
		// would cost the same copy later, entry by entry.
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		m, err := t.decode(frame)
		if err != nil {
			t.opts.Logger.Warn("closing direct peer stream", "from", from, "err", err)
			return
		}
		if t.deliverMsg(t.ctx, m) != nil {
			return
		}
	}
}

// trackDirect adds a served direct connection accepted by dl, which Close
// and dl.Close close, or removes it (nil dl). Adding fails after either.
func (t *Transport) trackDirect(c net.Conn, dl *directListener) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if dl == nil {
		delete(t.direct, c)
		t.wg.Done()
		return true
	}
	if t.closed || dl.closed {
		return false
	}
	if t.direct == nil {
		t.direct = make(map[net.Conn]*directListener)
	}
	t.direct[c] = dl
	t.wg.Add(1)
	return true
}

func readField(r *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("transport: header field of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// directStream opens a direct stream to the current target and writes the
// queue into it until it breaks, like stream. It returns errNoDirect when
// the peer answered as a gRPC server.
func (p *peer) directStream(addr string) (sent bool, err error) {
	d := net.Dialer{
		Timeout: directDialTimeout,
		// Keepalive probes find a peer that vanished while the link
		// was idle, as gRPC's pings did.
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: p.t.opts.KeepaliveTime,
			Interval: p.t.opts.KeepaliveTimeout / 3, Count: 3},
	}
	c, err := d.DialContext(p.ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()

	o := p.t.opts
	hello := []byte(directMagic)
	for _, f := range []string{o.ClusterToken, strconv.FormatUint(o.ClusterID, 16), strconv.FormatUint(p.t.self, 16)} {
		hello = binary.AppendUvarint(hello, uint64(len(f)))
		hello = append(hello, f...)
	}
	c.SetDeadline(time.Now().Add(directHandshakeTimeout))
	if _, err := c.Write(hello); err != nil {
		return false, err
	}
	r := bufio.NewReader(c)
	head := make([]byte, len(directMagic)+1)
	if _, err := io.ReadFull(r, head); err != nil {
		return false, err
	}
	if string(head[:len(directMagic)]) != directMagic {
		return false, errNoDirect
	}
	if head[len(directMagic)] != 0 {
		reason, err := readField(r, 1<<16)
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("transport: peer refused the stream: %s", reason)
	}
	c.SetDeadline(time.Time{})

	// The receiver never writes again: a read returns when the stream ends.
	ended := make(chan error, 1)
	go func() {
		_, err := r.ReadByte()
		cancel()
		ended <- err
	}()
	w := bufio.NewWriterSize(c, directBufBytes)
	var hdr [binary.MaxVarintLen64]byte
	write := func(e encoded) error {
		if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(e.size()))]); err != nil {
			return err
		}
		if _, err := w.Write(e.head); err != nil {
			return err
		}
		_, err := w.Write(e.body)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return sent, <-ended
		case e := <-p.queue:
			err := write(e)
			// Whatever else is queued joins this write.
		drain:
			for err == nil {
				select {
				case e := <-p.queue:
					err = write(e)
				default:
					break drain
				}
			}
			if err == nil {
				// A receiver that stops reading (hung, or its
				// machine gone) fails the write instead of
				// blocking the peer forever.
				c.SetWriteDeadline(time.Now().Add(o.KeepaliveTime + o.KeepaliveTimeout))
				err = w.Flush()
			}
			if err != nil {
				cancel()
				return sent, errors.Join(err, <-ended)
			}
			sent = true
		}
	}
}

// check is authorize for the direct stream's header fields.
func (t *Transport) check(token, cluster, from string) (uint64, error) {
	return t.authorizeFields([]string{token}, []string{cluster}, []string{from})
}
