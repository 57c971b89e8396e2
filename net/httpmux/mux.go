// Package httpmux serves gRPC and HTTP on the same listener, as etcd does on
// its client port: gRPC clients, curl, Prometheus and Kubernetes probes all
// point at one URL.
//
// Every accepted connection goes to Route, which decides where it belongs:
//
//   - a plain connection that opens with the HTTP/2 client preface is gRPC
//     (etcd's clients speak HTTP/2 without TLS only for gRPC) and goes to
//     the grpc.Server's native transport;
//   - any other plain connection (HTTP/1.x) goes to the http.Server;
//   - a *tls.Conn, handshaken or not, goes to the http.Server, which speaks
//     HTTP/2 or HTTP/1.1 as ALPN chose; its handler (Handler) passes gRPC
//     requests (HTTP/2 with content-type application/grpc) to the
//     grpc.Server's ServeHTTP, so a TLS client sees gRPC and HTTP on one port
//     and the request keeps its TLS state (client certificates).
//
// A TLS listener wrapper therefore composes: accept, wrap in tls.Server,
// hand the *tls.Conn to Route.
package httpmux

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// preface is what every HTTP/2 client sends first (RFC 9113 §3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffTimeout bounds how long a new plain connection may take to send the
// bytes that tell HTTP/2 from HTTP/1: a silent connection is closed, not
// kept forever.
const sniffTimeout = 10 * time.Second

// Mux routes connections to a grpc.Server and an http.Server. Both are
// served on internal listeners by Start; the caller owns their options.
type Mux struct {
	grpcSrv *grpc.Server
	httpSrv *http.Server
	grpcL   *chanListener
	httpL   *chanListener
	grpcLis net.Listener // what the grpc.Server serves: grpcL, maybe wrapped
	plain   PlainServer  // serves grpcLis instead of grpcSrv when set

	mu      sync.Mutex
	outer   []net.Listener
	closed  bool
	stopped chan struct{}
	wg      sync.WaitGroup
}

// New returns a Mux over g and h. h.Handler should be wrapped with Handler
// (done here when it is not already) so TLS clients reach gRPC too.
func New(g *grpc.Server, h *http.Server) *Mux {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	m := &Mux{
		grpcSrv: g,
		httpSrv: h,
		grpcL:   newChanListener(addr),
		httpL:   newChanListener(addr),
		stopped: make(chan struct{}),
	}
	m.grpcLis = m.grpcL
	if _, ok := h.Handler.(grpcSplitter); !ok {
		h.Handler = Handler(g, h.Handler)
	}
	return m
}

// WrapGRPCListener makes the grpc.Server accept its plain connections
// through wrap(l) (e.g. to count them). Call it before Start.
func (m *Mux) WrapGRPCListener(wrap func(l net.Listener) net.Listener) {
	m.grpcLis = wrap(m.grpcLis)
}

// PlainServer is a gRPC server other than grpc-go's for the plain (h2c)
// connections; it returns grpc.ErrServerStopped or net.ErrClosed once
// stopped, as grpc.Server does.
type PlainServer interface {
	Serve(l net.Listener) error
}

// ServePlainWith makes s, not the grpc.Server, serve the plain HTTP/2
// connections (and DialGRPC's); TLS gRPC still reaches the grpc.Server
// through the HTTP server. Call it before Start.
func (m *Mux) ServePlainWith(s PlainServer) { m.plain = s }

// Start serves the internal listeners; errLog is told when one of the two
// servers ends for a reason other than being stopped.
func (m *Mux) Start(errLog func(what string, err error)) {
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		var serve PlainServer = m.grpcSrv
		if m.plain != nil {
			serve = m.plain
		}
		if err := serve.Serve(m.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, net.ErrClosed) {
			errLog("grpc", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		if err := m.httpSrv.Serve(m.httpL); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errLog("http", err)
		}
	}()
}

// Serve accepts connections from l until l or the Mux is closed and routes
// each one. It returns nil once closed, else the accept error.
func (m *Mux) Serve(l net.Listener) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		l.Close()
		return nil
	}
	m.outer = append(m.outer, l)
	m.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-m.stopped:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go m.Route(c)
	}
}

// Route hands one accepted connection to the server it belongs to (see the
// package comment). It blocks until the connection is handed over or
// closed; call it on its own goroutine.
func (m *Mux) Route(c net.Conn) {
	if _, ok := c.(*tls.Conn); ok {
		m.httpL.deliver(c)
		return
	}
	isH2, sniffed, err := sniff(c)
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, head: sniffed}
	if isH2 {
		m.grpcL.deliver(pc)
		return
	}
	m.httpL.deliver(pc)
}

// DialGRPC connects to the gRPC server in process, without the network:
// the JSON gateway's grpc.ClientConn dials through it.
func (m *Mux) DialGRPC(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	if !m.grpcL.deliver(server) {
		client.Close()
		return nil, net.ErrClosed
	}
	return client, nil
}

// Close stops accepting: the outer listeners and the internal ones close.
// Connections already handed over are the servers' to end (GracefulStop,
// http.Server.Shutdown or Close), which the caller does next.
func (m *Mux) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.stopped)
	outer := m.outer
	m.mu.Unlock()
	for _, l := range outer {
		l.Close()
	}
	m.grpcL.Close()
	m.httpL.Close()
}

// Wait returns once both internal servers have returned from Serve.
func (m *Mux) Wait() { m.wg.Wait() }

// sniff reads from c just enough to tell whether it begins with the HTTP/2
// preface: it stops at the first byte that differs. It returns what it read.
func sniff(c net.Conn) (bool, []byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(sniffTimeout)); err != nil {
		return false, nil, err
	}
	buf := make([]byte, len(preface))
	n := 0
	for n < len(preface) {
		k, err := c.Read(buf[n:])
		n += k
		if !bytes.HasPrefix([]byte(preface), buf[:n]) {
			break
		}
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				break
			}
			return false, nil, err
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return false, nil, err
	}
	return n == len(preface) && string(buf) == preface, buf[:n], nil
}

// peekedConn replays the sniffed bytes before reading on from the
// connection.
type peekedConn struct {
	net.Conn
	head []byte
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// grpcSplitter marks a handler made by Handler.
type grpcSplitter struct {
	g    *grpc.Server
	next http.Handler
}

// Handler sends gRPC requests (HTTP/2, content-type application/grpc) to g
// and everything else to next. Only TLS connections reach g this way: plain
// gRPC connections are routed to g's own transport before any HTTP parsing.
func Handler(g *grpc.Server, next http.Handler) http.Handler {
	return grpcSplitter{g: g, next: next}
}

func (s grpcSplitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		s.g.ServeHTTP(w, r)
		return
	}
	s.next.ServeHTTP(w, r)
}

// chanListener is a net.Listener whose connections come from deliver.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept; once the listener is closed it closes c and
// returns false.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		c.Close()
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
