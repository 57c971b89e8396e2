package server

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// MarshalResponse appends m's encoding to b as
// proto.MarshalOptions{}.MarshalAppend does, byte for byte. The KV
// service's answers (put, range, delete and txn responses, their headers
// and key-values) are encoded by hand: protobuf-go's table-driven walk
// sizes and then encodes each message through its field table. An answer
// holding anything the hand encoding does not expect (unknown fields,
// which a forwarded answer may carry; a nil element of a repeated field; a
// oneof wrapper holding nil) goes to protobuf-go. It is the lean gRPC
// server's encoder (leangrpc.Options.Marshal).
func MarshalResponse(b []byte, m proto.Message) ([]byte, error) {
	switch r := m.(type) {
	case *pb.PutResponse:
		if n, ok := putResponseSize(r); ok {
			return appendPutResponse(growFor(b, n), r), nil
		}
	case *pb.TxnResponse:
		if n, ok := txnResponseSize(r); ok {
			return appendTxnResponse(growFor(b, n), r), nil
		}
	case *pb.RangeResponse:
		if n, ok := rangeResponseSize(r); ok {
			return appendRangeResponse(growFor(b, n), r), nil
		}
	case *pb.DeleteRangeResponse:
		if n, ok := deleteRangeResponseSize(r); ok {
			return appendDeleteRangeResponse(growFor(b, n), r), nil
		}
	}
	return proto.MarshalOptions{}.MarshalAppend(b, m)
}

// growFor makes room for n more bytes at once.
func growFor(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

// Every field of these messages has a number below 16: its tag is one
// byte.

func varintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func boolField(v bool) int {
	if v {
		return 2
	}
	return 0
}

func bytesField(v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(len(v))
}

func messageField(n int) int { return 1 + protowire.SizeBytes(n) }

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(append(b, byte(num)<<3|byte(protowire.VarintType)), v)
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return append(b, byte(num)<<3|byte(protowire.VarintType), 1)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(append(b, byte(num)<<3|byte(protowire.BytesType)), v)
}

func appendMessageHead(b []byte, num protowire.Number, n int) []byte {
	return protowire.AppendVarint(append(b, byte(num)<<3|byte(protowire.BytesType)), uint64(n))
}

// plain tells a message without unknown fields.
func plain(m proto.Message) bool { return len(m.ProtoReflect().GetUnknown()) == 0 }

func headerSize(h *pb.ResponseHeader) (int, bool) {
	if !plain(h) {
		return 0, false
	}
	return varintField(h.ClusterId) + varintField(h.MemberId) + varintField(uint64(h.Revision)) +
		varintField(h.RaftTerm), true
}

func appendHeader(b []byte, h *pb.ResponseHeader) []byte {
	b = appendVarintField(b, 1, h.ClusterId)
	b = appendVarintField(b, 2, h.MemberId)
	b = appendVarintField(b, 3, uint64(h.Revision))
	return appendVarintField(b, 4, h.RaftTerm)
}

// headerField is the header's size as a field; 0 when nil.
func headerField(h *pb.ResponseHeader) (int, bool) {
	if h == nil {
		return 0, true
	}
	n, ok := headerSize(h)
	return messageField(n), ok
}

func appendHeaderField(b []byte, h *pb.ResponseHeader) []byte {
	if h == nil {
		return b
	}
	n, _ := headerSize(h)
	return appendHeader(appendMessageHead(b, 1, n), h)
}

func kvSize(kv *mvccpb.KeyValue) (int, bool) {
	if kv == nil || !plain(kv) {
		return 0, false
	}
	return bytesField(kv.Key) + varintField(uint64(kv.CreateRevision)) + varintField(uint64(kv.ModRevision)) +
		varintField(uint64(kv.Version)) + bytesField(kv.Value) + varintField(uint64(kv.Lease)), true
}

func appendKV(b []byte, num protowire.Number, kv *mvccpb.KeyValue) []byte {
	n, _ := kvSize(kv)
	b = appendMessageHead(b, num, n)
	b = appendBytesField(b, 1, kv.Key)
	b = appendVarintField(b, 2, uint64(kv.CreateRevision))
	b = appendVarintField(b, 3, uint64(kv.ModRevision))
	b = appendVarintField(b, 4, uint64(kv.Version))
	b = appendBytesField(b, 5, kv.Value)
	return appendVarintField(b, 6, uint64(kv.Lease))
}

func kvsSize(kvs []*mvccpb.KeyValue) (int, bool) {
	total := 0
	for _, kv := range kvs {
		n, ok := kvSize(kv)
		if !ok {
			return 0, false
		}
		total += messageField(n)
	}
	return total, true
}

func putResponseSize(r *pb.PutResponse) (int, bool) {
	if !plain(r) {
		return 0, false
	}
	n, ok := headerField(r.Header)
	if !ok {
		return 0, false
	}
	if r.PrevKv != nil {
		kn, ok := kvSize(r.PrevKv)
		if !ok {
			return 0, false
		}
		n += messageField(kn)
	}
	return n, true
}

func appendPutResponse(b []byte, r *pb.PutResponse) []byte {
	b = appendHeaderField(b, r.Header)
	if r.PrevKv != nil {
		b = appendKV(b, 2, r.PrevKv)
	}
	return b
}

func rangeResponseSize(r *pb.RangeResponse) (int, bool) {
	if !plain(r) {
		return 0, false
	}
	n, ok := headerField(r.Header)
	kn, kok := kvsSize(r.Kvs)
	if !ok || !kok {
		return 0, false
	}
	return n + kn + boolField(r.More) + varintField(uint64(r.Count)), true
}

func appendRangeResponse(b []byte, r *pb.RangeResponse) []byte {
	b = appendHeaderField(b, r.Header)
	for _, kv := range r.Kvs {
		b = appendKV(b, 2, kv)
	}
	b = appendBoolField(b, 3, r.More)
	return appendVarintField(b, 4, uint64(r.Count))
}

func deleteRangeResponseSize(r *pb.DeleteRangeResponse) (int, bool) {
	if !plain(r) {
		return 0, false
	}
	n, ok := headerField(r.Header)
	kn, kok := kvsSize(r.PrevKvs)
	if !ok || !kok {
		return 0, false
	}
	return n + varintField(uint64(r.Deleted)) + kn, true
}

func appendDeleteRangeResponse(b []byte, r *pb.DeleteRangeResponse) []byte {
	b = appendHeaderField(b, r.Header)
	b = appendVarintField(b, 2, uint64(r.Deleted))
	for _, kv := range r.PrevKvs {
		b = appendKV(b, 3, kv)
	}
	return b
}

// maxTxnDepth bounds the nesting the hand encoding recurses into; deeper
// txns go to protobuf-go.
const maxTxnDepth = 8

func txnResponseSize(r *pb.TxnResponse) (int, bool) { return txnSize(r, 0) }

func txnSize(r *pb.TxnResponse, depth int) (int, bool) {
	if depth > maxTxnDepth || !plain(r) {
		return 0, false
	}
	n, ok := headerField(r.Header)
	if !ok {
		return 0, false
	}
	n += boolField(r.Succeeded)
	for _, op := range r.Responses {
		on, ok := opSize(op, depth)
		if !ok {
			return 0, false
		}
		n += messageField(on)
	}
	return n, true
}

// opSize is a ResponseOp's size: its one answer as a field, or nothing.
func opSize(op *pb.ResponseOp, depth int) (int, bool) {
	if op == nil || !plain(op) {
		return 0, false
	}
	var n int
	var ok bool
	switch v := op.Response.(type) {
	case nil:
		return 0, true
	case *pb.ResponseOp_ResponseRange:
		if v.ResponseRange == nil {
			return 0, false
		}
		n, ok = rangeResponseSize(v.ResponseRange)
	case *pb.ResponseOp_ResponsePut:
		if v.ResponsePut == nil {
			return 0, false
		}
		n, ok = putResponseSize(v.ResponsePut)
	case *pb.ResponseOp_ResponseDeleteRange:
		if v.ResponseDeleteRange == nil {
			return 0, false
		}
		n, ok = deleteRangeResponseSize(v.ResponseDeleteRange)
	case *pb.ResponseOp_ResponseTxn:
		if v.ResponseTxn == nil {
			return 0, false
		}
		n, ok = txnSize(v.ResponseTxn, depth+1)
	default:
		return 0, false
	}
	return messageField(n), ok
}

func appendTxnResponse(b []byte, r *pb.TxnResponse) []byte { return appendTxn(b, r, 0) }

func appendTxn(b []byte, r *pb.TxnResponse, depth int) []byte {
	b = appendHeaderField(b, r.Header)
	b = appendBoolField(b, 2, r.Succeeded)
	for _, op := range r.Responses {
		n, _ := opSize(op, depth)
		b = appendMessageHead(b, 3, n)
		switch v := op.Response.(type) {
		case *pb.ResponseOp_ResponseRange:
			rn, _ := rangeResponseSize(v.ResponseRange)
			b = appendRangeResponse(appendMessageHead(b, 1, rn), v.ResponseRange)
		case *pb.ResponseOp_ResponsePut:
			pn, _ := putResponseSize(v.ResponsePut)
			b = appendPutResponse(appendMessageHead(b, 2, pn), v.ResponsePut)
		case *pb.ResponseOp_ResponseDeleteRange:
			dn, _ := deleteRangeResponseSize(v.ResponseDeleteRange)
			b = appendDeleteRangeResponse(appendMessageHead(b, 3, dn), v.ResponseDeleteRange)
		case *pb.ResponseOp_ResponseTxn:
			tn, _ := txnSize(v.ResponseTxn, depth+1)
			b = appendTxn(appendMessageHead(b, 4, tn), v.ResponseTxn, depth+1)
		}
	}
	return b
}
