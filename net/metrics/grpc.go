package metrics

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServerOptions installs the interceptors. Connections are counted by
// CountConns on the server's listener, not by a stats handler: with any
// stats handler installed gRPC copies every request's metadata and builds
// and reports seven events per call, which cost more CPU than the rest of a
// cached read's handling.
func (m *Metrics) ServerOptions() []grpc.ServerOption { return m.ServerOptionsAround(nil) }

// ServerOptionsAround installs the interceptors with the server's own
// around them: unary (nil for none) runs inside the timed and counted call,
// and streams after the metrics' stream interceptor. gRPC runs a single
// unary interceptor as is but builds a handler closure per request and link
// for a chain, so the metrics time unary themselves instead of chaining.
func (m *Metrics) ServerOptionsAround(unary grpc.UnaryServerInterceptor, streams ...grpc.StreamServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.UnaryAround(unary)),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{m.StreamServerInterceptor()}, streams...)...),
	}
}

// methodMetrics are one method's observers with their labels resolved, so a
// request costs no label lookup (a hash of the label values and a map probe
// under a lock per metric).
type methodMetrics struct {
	duration prometheus.Observer
	ok       prometheus.Counter // the code nearly every request ends with
}

func (m *Metrics) methodMetrics(method string) *methodMetrics {
	if mm, ok := m.methods.Load(method); ok {
		return mm.(*methodMetrics)
	}
	mm, _ := m.methods.LoadOrStore(method, &methodMetrics{
		duration: m.grpcDuration.WithLabelValues(method),
		ok:       m.grpcRequests.WithLabelValues(method, codes.OK.String()),
	})
	return mm.(*methodMetrics)
}

func (m *Metrics) countRequest(mm *methodMetrics, method string, err error) {
	if err == nil {
		mm.ok.Inc()
		return
	}
	m.grpcRequests.WithLabelValues(method, status.Code(err).String()).Inc()
}

// UnaryServerInterceptor times each unary request and counts it by method
// and status code.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor { return m.UnaryAround(nil) }

// UnaryAround is UnaryServerInterceptor running inner (when not nil) with
// the request's handler inside the timed call.
func (m *Metrics) UnaryAround(inner grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		var resp any
		var err error
		if inner != nil {
			resp, err = inner(ctx, req, info, handler)
		} else {
			resp, err = handler(ctx, req)
		}
		mm := m.methodMetrics(info.FullMethod)
		ObserveSince(mm.duration, start)
		m.countRequest(mm, info.FullMethod, err)
		return resp, err
	}
}

// StreamServerInterceptor counts each finished stream by method and status
// code. Streams are not timed: a Watch lives as long as its client wants,
// and its lifetime would swamp the request-latency histogram.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		m.countRequest(m.methodMetrics(info.FullMethod), info.FullMethod, err)
		return err
	}
}

// CountConns keeps grpc_active_connections for the connections accepted
// from l: +1 when one is accepted, -1 when it is closed. Wrap the listener
// the gRPC server serves.
func (m *Metrics) CountConns(l net.Listener) net.Listener { return countingListener{l, m.grpcConns} }

type countingListener struct {
	net.Listener
	open prometheus.Gauge
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Inc()
	return &countedConn{Conn: c, open: l.open}, nil
}

// countedConn takes itself off the gauge on its first Close; gRPC may close
// a connection more than once.
type countedConn struct {
	net.Conn
	open   prometheus.Gauge
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Dec()
	}
	return c.Conn.Close()
}
