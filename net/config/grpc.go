package config

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// GRPCServerOptions turns the gRPC tuning and keepalive settings into
// options for the client-facing grpc.Server. Interceptors and stats handlers
// (metrics) are added by the caller.
func (c *Config) GRPCServerOptions() []grpc.ServerOption {
	g := c.GRPC
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(g.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(g.MaxSendMsgSize),
		grpc.MaxConcurrentStreams(g.MaxConcurrentStreams),
		grpc.InitialWindowSize(g.InitialWindowSize),
		grpc.InitialConnWindowSize(g.InitialConnWindowSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  c.GRPCKeepaliveInterval,
			Timeout:               c.GRPCKeepaliveTimeout,
			MaxConnectionIdle:     g.MaxConnectionIdle,
			MaxConnectionAge:      g.MaxConnectionAge,
			MaxConnectionAgeGrace: g.MaxConnectionAgeGrace,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             c.GRPCKeepaliveMinTime,
			PermitWithoutStream: true,
		}),
	}
}
