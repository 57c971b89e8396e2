package server

import (
	"context"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"metastore/core"
)

// firstChunkKeys is the first chunk's key count; later chunks are sized
// from the bytes the previous one took (nextChunkLimit).
const firstChunkKeys = 64

// RangeStream is etcd 3.7's chunked range: the answer to a Range split
// into messages of about --max-request-bytes each, so a large range (a
// Kubernetes list) needs neither one huge message nor client-side paging.
// Merging the chunks gives what Range answers: the keys in order, split
// disjointly across chunks; header, count and more only on the last.
//
// The first chunk is read as the request asks (linearizable unless
// serializable) and fixes the revision; every later chunk reads that
// revision locally, so the stream is one consistent snapshot even while
// writes go on. Each chunk is a separate short read, so a long stream never
// holds the replica's loop. As etcd, custom sort orders and revision
// filters are refused: they would need the whole result before the first
// chunk.
func (k *kvServer) RangeStream(req *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	if req.SortOrder != pb.RangeRequest_NONE &&
		!(req.SortTarget == pb.RangeRequest_KEY && req.SortOrder == pb.RangeRequest_ASCEND) {
		return status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders")
	}
	if req.MinModRevision != 0 || req.MaxModRevision != 0 || req.MinCreateRevision != 0 || req.MaxCreateRevision != 0 {
		return status.Error(codes.Unimplemented, "RangeStream does not support revision filters")
	}
	ctx := stream.Context()
	r := proto.Clone(req).(*pb.RangeRequest)
	if r.CountOnly {
		resp, err := k.read(ctx, r)
		if err != nil {
			return err
		}
		out := &pb.RangeResponse{Header: k.s.header(resp.Header), Count: resp.Count}
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: out})
	}

	remaining := r.Limit // keys still wanted; 0: all
	if remaining <= 0 {
		remaining = math.MaxInt64
	}
	target := k.s.cfg.MaxRequestBytes
	r.Limit = min(firstChunkKeys, remaining)
	var headerRev, sent int64
	for {
		resp, err := k.read(ctx, r)
		if err != nil {
			return err
		}
		if headerRev == 0 {
			// Pin the stream to the first chunk's revision.
			headerRev = resp.Header.GetRevision()
			if r.Revision <= 0 {
				r.Revision = headerRev
			}
			r.Serializable = true
		}
		n := int64(len(resp.Kvs))
		remaining -= n
		last := !resp.More || remaining == 0
		// Keys much larger than the last read's can make this read far
		// bigger than target: it goes out in pieces of about target bytes.
		pieces := splitKVs(resp.Kvs, target)
		for i, kvs := range pieces {
			out := &pb.RangeResponse{Kvs: kvs}
			if last && i == len(pieces)-1 {
				// resp.Count counts every match from this read's first key on.
				out.Header = k.s.header(&pb.ResponseHeader{Revision: headerRev})
				out.Count = sent + resp.Count
				out.More = resp.More
			}
			if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: out}); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
		sent += n
		r.Key = append(append([]byte(nil), resp.Kvs[n-1].Key...), 0)
		r.Limit = min(nextChunkLimit(r.Limit, proto.Size(resp), target), remaining)
	}
}

// read is one Range through the replica, with etcd's errors.
func (k *kvServer) read(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	res, err := k.s.node.call(ctx, k.s.cfg.RequestTimeout, func(rep *core.Replica, cb core.Callback) {
		rep.Read(r, cb)
	})
	if err != nil {
		return nil, k.s.toGRPC(err)
	}
	return res.Resp.(*pb.RangeResponse), nil
}

// nextChunkLimit scales the key count so the next chunk takes about target
// bytes, assuming keys like the last chunk's; it at most quadruples, so one
// chunk of small keys cannot promise a huge next one.
func nextChunkLimit(limit int64, size, target int) int64 {
	if size <= 0 {
		return 4 * limit
	}
	next := limit * int64(target) / int64(size)
	return max(1, min(next, 4*limit))
}

// splitKVs cuts kvs into runs of at most about target encoded bytes (a run
// holds at least one key); no keys give one empty run.
func splitKVs(kvs []*mvccpb.KeyValue, target int) [][]*mvccpb.KeyValue {
	var out [][]*mvccpb.KeyValue
	start, size := 0, 0
	for i, kv := range kvs {
		n := proto.Size(kv) + 8 // the field's tag and length
		if i > start && size+n > target {
			out = append(out, kvs[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, kvs[start:])
}
