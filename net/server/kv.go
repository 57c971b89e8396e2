package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"metastore/core"
	"metastore/core/mvcc"
)

// kvServer is etcd's KV service. Writes are proposed through raft; Range and
// read-only Txn are linearizable reads (ReadIndex) unless the request is
// serializable.
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvServer) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	// The replica validates the request (core.Replica.Read) and answers
	// mvcc's error, which toGRPC maps like any other.
	c := k.s.callerOf(ctx)
	res, err := k.s.node.call(ctx, k.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
		user, rev, err := k.s.resolve(r, c)
		if err == nil {
			err = r.Store().Auth().CheckRange(user, rev, req.Key, req.RangeEnd)
		}
		if err != nil {
			cb(core.Result{Err: err})
			return
		}
		r.Read(req, cb)
	})
	if err != nil {
		return nil, k.s.toGRPC(err)
	}
	resp := res.Resp.(*pb.RangeResponse)
	resp.Header = k.s.header(resp.Header)
	return resp, nil
}

func (k *kvServer) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	raftReq := newRaftRequest()
	raftReq.Put = req
	resp, err := propose[*pb.PutResponse](ctx, k.s, raftReq)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.header(resp.Header)
	return resp, nil
}

func (k *kvServer) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	raftReq := newRaftRequest()
	raftReq.DeleteRange = req
	resp, err := propose[*pb.DeleteRangeResponse](ctx, k.s, raftReq)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.header(resp.Header)
	return resp, nil
}

// Txn is proposed through raft when it writes. A read-only txn (ranges
// only, as etcd decides it) is served like a Range: after a ReadIndex
// round, or locally when every range in it is serializable.
func (k *kvServer) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if mvcc.IsReadOnlyTxn(req) {
		res, err := k.s.node.call(ctx, k.s.cfg.RequestTimeout, func(r *core.Replica, cb core.Callback) {
			r.ReadTxn(req, cb)
		})
		if err != nil {
			return nil, k.s.toGRPC(err)
		}
		resp := res.Resp.(*pb.TxnResponse)
		resp.Header = k.s.header(resp.Header)
		return resp, nil
	}
	raftReq := newRaftRequest()
	raftReq.Txn = req
	resp, err := propose[*pb.TxnResponse](ctx, k.s, raftReq)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.header(resp.Header)
	return resp, nil
}

// Compact compacts synchronously at apply, so the physical flag is
// satisfied by the time the answer comes.
func (k *kvServer) Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := propose[*pb.CompactionResponse](ctx, k.s, &pb.InternalRaftRequest{Compaction: req})
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.header(resp.Header)
	return resp, nil
}

// raftRequest is a request with its header, allocated together.
type raftRequest struct {
	req pb.InternalRaftRequest
	hdr pb.RequestHeader
}

// newRaftRequest returns an empty request whose header (still empty: the
// replica gives it its ID) came in the same allocation.
func newRaftRequest() *pb.InternalRaftRequest {
	a := &raftRequest{}
	a.req.Header = &a.hdr
	return &a.req
}

// propose checks req against the request size limit and the space quota,
// proposes it and waits for its apply. The error is already etcd's.
func propose[T any](ctx context.Context, s *Server, req *pb.InternalRaftRequest) (T, error) {
	var zero T
	// Stateless validation happens once, in core.Replica.Propose; here only
	// the server's own limits are checked.
	if err := s.checkRequest(ctx, req); err != nil {
		return zero, s.toGRPC(err)
	}
	start := time.Now()
	deadline := start.Add(s.cfg.RequestTimeout)
	c := s.callerOf(ctx)
	var res core.Result
	var err error
	for {
		res, err = s.node.callPropose(ctx, time.Until(deadline), proposal{s: s, c: c, req: req})
		// raft drops a proposal at once while there is no leader; it is not
		// in the log, so proposing again once one is elected is safe. etcd
		// likewise holds proposals until a leader exists.
		if !errors.Is(err, core.ErrDropped) || !s.node.awaitLeader(ctx, deadline) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, core.ErrDropped) && time.Now().After(deadline) {
			err = errTimeout
		}
		// NB: ctx is read only here: its Err takes a lock, and an answered
		// call has no callback left to drop.
		if errors.Is(err, errTimeout) || ctx.Err() != nil {
			// Nobody waits any more: drop the replica's callback, which a
			// proposal lost in a leader change would otherwise keep forever.
			fctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.node.Do(fctx, func(r *core.Replica) { r.Forget(req.GetHeader().GetID()) })
			cancel()
		}
	}
	if s.cfg.ObservePropose != nil {
		s.cfg.ObservePropose(time.Since(start))
	}
	if err != nil {
		return zero, s.toGRPC(err)
	}
	resp, ok := res.Resp.(T)
	if !ok {
		return zero, status.Errorf(codes.Internal, "metastore: unexpected response %T", res.Resp)
	}
	return resp, nil
}

// UnmarshalRequest decodes a client's request message as proto.Unmarshal
// does; a TxnRequest, the one whose generic decoding cost a txn-put most
// over a put, is decoded by hand (core.UnmarshalTxnRequest), and so is a
// PutRequest (core.UnmarshalPutRequest). It is the lean gRPC server's decoder
// (leangrpc.Options.Unmarshal).
func UnmarshalRequest(b []byte, m proto.Message) error {
	switch m := m.(type) {
	case *pb.PutRequest:
		return core.UnmarshalPutRequest(b, m)
	case *pb.TxnRequest:
		return core.UnmarshalTxnRequest(b, m)
	}
	return proto.Unmarshal(b, m)
}
