package metrics

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// ServerOptions installs the interceptors and the stats handler.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.StreamServerInterceptor()),
		grpc.StatsHandler(m.StatsHandler()),
	}
}

// UnaryServerInterceptor times each unary request and counts it by method
// and status code.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		ObserveSince(m.grpcDuration.WithLabelValues(info.FullMethod), start)
		m.grpcRequests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		return resp, err
	}
}

// StreamServerInterceptor counts each finished stream by method and status
// code. Streams are not timed: a Watch lives as long as its client wants,
// and its lifetime would swamp the request-latency histogram.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		m.grpcRequests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		return err
	}
}

// StatsHandler keeps grpc_active_connections: +1 when a connection opens,
// -1 when it closes.
func (m *Metrics) StatsHandler() stats.Handler { return connCounter{m} }

type connCounter struct{ m *Metrics }

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.m.grpcConns.Inc()
	case *stats.ConnEnd:
		c.m.grpcConns.Dec()
	}
}
