package config

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ServerOptions turns the gRPC tuning into options for the client-facing
// grpc.Server. Interceptors and stats handlers (metrics) are added by the
// caller.
func (g GRPCConfig) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(g.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(g.MaxSendMsgSize),
		grpc.MaxConcurrentStreams(g.MaxConcurrentStreams),
		grpc.InitialWindowSize(g.InitialWindowSize),
		grpc.InitialConnWindowSize(g.InitialConnWindowSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  g.KeepaliveTime,
			Timeout:               g.KeepaliveTimeout,
			MaxConnectionIdle:     g.MaxConnectionIdle,
			MaxConnectionAge:      g.MaxConnectionAge,
			MaxConnectionAgeGrace: g.MaxConnectionAgeGrace,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             g.KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
	}
}
