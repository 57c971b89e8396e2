// Package leangrpc is a small gRPC server over cleartext HTTP/2 (h2c with
// prior knowledge, what etcd's clients speak without TLS). It serves the
// handlers of ordinary grpc.ServiceDescs, so the services that register on a
// grpc.Server register on it unchanged, and it exists because grpc-go's
// server costs about as much CPU per request as all of MetaStore's own work.
//
// Per connection it runs one reader goroutine (frames in, requests
// dispatched) and one writer goroutine that gathers the frames of every
// stream into one buffer and writes it with one syscall once nothing more is
// queued. Handlers run on a pool of reused goroutines (their grown stacks
// are kept), or on a goroutine of their own when every worker is busy.
//
// What it leaves out, against grpc-go: TLS (TLS clients still reach
// grpc-go's ServeHTTP through the HTTP server), compression (a compressed
// message is refused with Unimplemented) and stats handlers.
package leangrpc

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// UnaryInterceptors and StreamInterceptors run around every call, the
	// first outermost, as grpc.ChainUnaryInterceptor's do.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
	// MaxRecvMsgSize is the largest request message; default 4 MiB.
	// Larger ones fail with ResourceExhausted, as grpc-go's do.
	MaxRecvMsgSize int
	// MaxConcurrentStreams is advertised to clients, and streams past it
	// are refused; 0: unlimited.
	MaxConcurrentStreams uint32
	// KeepaliveTime: a connection silent this long gets a PING, and is
	// closed when nothing arrives within KeepaliveTimeout (default 20 s).
	// MaxConnectionIdle: a connection without streams this long gets
	// GOAWAY. Zero: never.
	// MaxConnectionAge: a connection this old gets GOAWAY, and is closed
	// MaxConnectionAgeGrace later (0: once its streams end).
	KeepaliveTime         time.Duration
	KeepaliveTimeout      time.Duration
	MaxConnectionIdle     time.Duration
	MaxConnectionAge      time.Duration
	MaxConnectionAgeGrace time.Duration
	// KeepaliveMinTime and KeepalivePermitWithoutStream are the client
	// ping policy, grpc-go's keepalive.EnforcementPolicy: a ping sooner
	// than KeepaliveMinTime after the previous one (default 5 minutes, as
	// grpc-go's), or one while no stream is open unless
	// KeepalivePermitWithoutStream, is a strike; the third strike gets
	// GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and the connection closed.
	// Writing a response clears the strikes.
	KeepaliveMinTime             time.Duration
	KeepalivePermitWithoutStream bool
	// Workers is how many goroutines are kept to run handlers on; 0 runs
	// every request on a new goroutine.
	Workers int
	// Unmarshal, when set, decodes request messages instead of
	// proto.Unmarshal, with its semantics (m is reset first): a service
	// that knows its hot messages can decode those by hand and hand the
	// rest to proto.Unmarshal. Its error is reported as proto's is.
	Unmarshal func(b []byte, m proto.Message) error
	// Marshal, when set, encodes response messages instead of protobuf-go:
	// it appends m's encoding to b, byte for byte what
	// proto.MarshalOptions{}.MarshalAppend appends (a service can encode
	// its hot answers by hand and hand the rest to protobuf-go). Its error
	// is reported as protobuf-go's is.
	Marshal func(b []byte, m proto.Message) ([]byte, error)
}

// method is one registered method, with what each call needs resolved at
// registration so a call allocates none of it.
type method struct {
	impl       any
	unary      grpc.MethodHandler
	stream     grpc.StreamHandler
	unaryInfo  *grpc.UnaryServerInfo
	streamInfo *grpc.StreamServerInfo
	fullName   string
}

// Server serves registered gRPC services on h2c connections.
type Server struct {
	opts         Options
	streamWindow uint32 // the receive window granted per stream
	unaryInt     grpc.UnaryServerInterceptor
	streamInt    grpc.StreamServerInterceptor
	methods      map[string]*method
	work         chan task

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	draining  bool
	stopped   bool
	// readers counts the connections being served (their readers are
	// the only dispatchers of work): added with the map entry, done once
	// the connection is forgotten.
	readers sync.WaitGroup
}

// ErrServerStopped is what Serve returns once the server is stopped; it is
// grpc-go's, so callers that serve either server check one error.
var ErrServerStopped = grpc.ErrServerStopped

// NewServer returns a Server with no services registered.
func NewServer(opts Options) *Server {
	if opts.KeepaliveTimeout <= 0 {
		opts.KeepaliveTimeout = 20 * time.Second
	}
	if opts.MaxRecvMsgSize <= 0 {
		opts.MaxRecvMsgSize = 4 << 20
	}
	if opts.KeepaliveMinTime <= 0 {
		opts.KeepaliveMinTime = 5 * time.Minute
	}
	s := &Server{
		opts:         opts,
		streamWindow: uint32(min(max(minStreamWindow, 2*(int64(opts.MaxRecvMsgSize)+5)), math.MaxInt32)),
		unaryInt:     chainUnary(opts.UnaryInterceptors),
		streamInt:    chainStream(opts.StreamInterceptors),
		methods:      make(map[string]*method),
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*conn]struct{}),
	}
	if opts.Workers > 0 {
		s.work = make(chan task)
		for range opts.Workers {
			go func() {
				for t := range s.work {
					t.run()
				}
			}()
		}
	}
	return s
}

// RegisterService implements grpc.ServiceRegistrar. Call it before Serve.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for i := range desc.Methods {
		md := &desc.Methods[i]
		name := "/" + desc.ServiceName + "/" + md.MethodName
		s.methods[name] = &method{
			impl:      impl,
			unary:     md.Handler,
			unaryInfo: &grpc.UnaryServerInfo{Server: impl, FullMethod: name},
			fullName:  name,
		}
	}
	for i := range desc.Streams {
		sd := &desc.Streams[i]
		name := "/" + desc.ServiceName + "/" + sd.StreamName
		s.methods[name] = &method{
			impl:   impl,
			stream: sd.Handler,
			streamInfo: &grpc.StreamServerInfo{
				FullMethod:     name,
				IsClientStream: sd.ClientStreams,
				IsServerStream: sd.ServerStreams,
			},
			fullName: name,
		}
	}
}

// Serve accepts h2c connections on l until l fails or the server stops.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.stopped || s.draining {
		s.mu.Unlock()
		l.Close()
		return ErrServerStopped
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.stopped || s.draining
			s.mu.Unlock()
			if done {
				return ErrServerStopped
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c := s.track(nc)
		if c == nil {
			return ErrServerStopped
		}
		go c.serve()
	}
}

// ServeConn serves one already accepted connection and returns when it
// ends.
func (s *Server) ServeConn(nc net.Conn) {
	if c := s.track(nc); c != nil {
		c.serve()
	}
}

// track registers nc as a connection to serve; nil (nc closed) once the
// server is stopping.
func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	if s.stopped || s.draining {
		s.mu.Unlock()
		nc.Close()
		return nil
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.readers.Add(1)
	s.mu.Unlock()
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Stop closes the listeners and every connection at once; handlers see
// their contexts canceled.
func (s *Server) Stop() {
	conns, ok := s.closeListeners(func() { s.stopped = true })
	if !ok {
		return
	}
	for _, c := range conns {
		c.close()
	}
	s.readers.Wait()
	if s.work != nil {
		close(s.work)
	}
}

// GracefulStop closes the listeners, tells every client with GOAWAY to
// open no new streams, and waits until the streams already open end; then
// it stops as Stop does.
func (s *Server) GracefulStop() {
	conns, ok := s.closeListeners(func() { s.draining = true })
	if !ok {
		return
	}
	for _, c := range conns {
		c.goAway()
	}
	s.readers.Wait()
	s.Stop()
}

// closeListeners marks the server (mark runs under its lock), closes its
// listeners and returns the connections open at that moment; ok is false
// when the server had already stopped.
func (s *Server) closeListeners(mark func()) (conns []*conn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, false
	}
	mark()
	for l := range s.listeners {
		l.Close()
	}
	conns = make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns, true
}

// chainUnary folds interceptors into one, the first outermost.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(ints) {
	case 0:
		return nil
	case 1:
		return ints[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ints[0](ctx, req, info, unaryLink(ints, 1, info, handler))
	}
}

func unaryLink(ints []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, last grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ints) {
		return last
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[i](ctx, req, info, unaryLink(ints, i+1, info, last))
	}
}

// chainStream folds stream interceptors into one, the first outermost.
func chainStream(ints []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	switch len(ints) {
	case 0:
		return nil
	case 1:
		return ints[0]
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ints[0](srv, ss, info, streamLink(ints, 1, info, handler))
	}
}

func streamLink(ints []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, last grpc.StreamHandler) grpc.StreamHandler {
	if i == len(ints) {
		return last
	}
	return func(srv any, ss grpc.ServerStream) error {
		return ints[i](srv, ss, info, streamLink(ints, i+1, info, last))
	}
}
