package server

import (
	"context"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// kvServiceDesc is etcd's KV service with the handlers of its unary calls
// made here instead of by protoc-gen-go-grpc. A generated handler builds a
// grpc.UnaryServerInfo and a closure around the method for every call that
// has an interceptor (every call, in the real server); these make both
// once, at registration. What an interceptor sees is the same: the request
// message, FullMethod and the registered service as Server.
func kvServiceDesc(k *kvServer) *grpc.ServiceDesc {
	desc := pb.KV_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		md := &desc.Methods[i]
		full := "/" + desc.ServiceName + "/" + md.MethodName
		switch md.MethodName {
		case "Range":
			md.Handler = unaryHandler(k, full, k.Range)
		case "Put":
			md.Handler = unaryHandler(k, full, k.Put)
		case "DeleteRange":
			md.Handler = unaryHandler(k, full, k.DeleteRange)
		case "Txn":
			md.Handler = unaryHandler(k, full, k.Txn)
		case "Compact":
			md.Handler = unaryHandler(k, full, k.Compact)
		}
	}
	return &desc
}

// unaryHandler is a grpc.MethodHandler calling method on a request of type
// *Req, as a generated handler does, with the interceptor's info and
// handler made once.
func unaryHandler[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any](impl any, fullMethod string, method func(context.Context, PReq) (Resp, error)) grpc.MethodHandler {
	info := &grpc.UnaryServerInfo{Server: impl, FullMethod: fullMethod}
	call := func(ctx context.Context, req any) (any, error) { return method(ctx, req.(PReq)) }
	return func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := PReq(new(Req))
		if err := dec(in); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return method(ctx, in)
		}
		return interceptor(ctx, in, info, call)
	}
}
