package server

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// TestMarshalResponseMatchesProto holds MarshalResponse to protobuf-go's
// bytes for the KV answers, nested txns, nil and empty parts, unknown
// fields and nil elements (which take protobuf-go's path) included, and
// appended after bytes already in the buffer.
func TestMarshalResponseMatchesProto(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m proto.Message
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			m = drawPutResponse(t)
		case 1:
			m = drawRangeResponse(t)
		case 2:
			m = drawDeleteRangeResponse(t)
		case 3:
			m = drawTxnResponse(t, 0)
		}
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "prefix")
		want, err := proto.MarshalOptions{}.MarshalAppend(bytes.Clone(prefix), m)
		if err != nil {
			t.Fatal(err)
		}
		buf := append(make([]byte, 0, rapid.IntRange(0, 64).Draw(t, "cap")), prefix...)
		got, err := MarshalResponse(buf, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoded %x\nprotobuf-go %x\nmessage %v", got, want, m)
		}
	})
}

// TestMarshalResponseByHand: the answers the server builds take the hand
// encoding, which allocates nothing in a buffer large enough.
func TestMarshalResponseByHand(t *testing.T) {
	hdr := &pb.ResponseHeader{ClusterId: 1 << 60, MemberId: 7, Revision: 1234567, RaftTerm: 3}
	kv := &mvccpb.KeyValue{Key: []byte("k"), CreateRevision: 5, ModRevision: 9, Version: 2, Value: make([]byte, 256), Lease: -1}
	msgs := []proto.Message{
		&pb.PutResponse{Header: hdr, PrevKv: kv},
		&pb.RangeResponse{Header: hdr, Kvs: []*mvccpb.KeyValue{kv, kv}, More: true, Count: 2},
		&pb.DeleteRangeResponse{Header: hdr, Deleted: 1, PrevKvs: []*mvccpb.KeyValue{kv}},
		&pb.TxnResponse{Header: hdr, Succeeded: true, Responses: []*pb.ResponseOp{
			{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: hdr}}},
		}},
	}
	buf := make([]byte, 0, 4096)
	for _, m := range msgs {
		if n := testing.AllocsPerRun(50, func() {
			if _, err := MarshalResponse(buf, m); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%T: %v allocations, want 0 (protobuf-go's path?)", m, n)
		}
	}
}

func drawUnknown(t *rapid.T, m proto.Message) {
	if rapid.IntRange(0, 9).Draw(t, "unknown") == 0 {
		u := protowire.AppendTag(nil, 99, protowire.VarintType)
		u = protowire.AppendVarint(u, rapid.Uint64().Draw(t, "uval"))
		m.ProtoReflect().SetUnknown(u)
	}
}

func drawHeader(t *rapid.T) *pb.ResponseHeader {
	if rapid.IntRange(0, 5).Draw(t, "nilHeader") == 0 {
		return nil
	}
	h := &pb.ResponseHeader{
		ClusterId: rapid.Uint64().Draw(t, "cluster"),
		MemberId:  rapid.Uint64().Draw(t, "member"),
		Revision:  rapid.Int64().Draw(t, "rev"),
		RaftTerm:  rapid.Uint64().Draw(t, "term"),
	}
	if rapid.Bool().Draw(t, "zeroes") {
		h.MemberId, h.RaftTerm = 0, 0
	}
	drawUnknown(t, h)
	return h
}

func drawKV(t *rapid.T) *mvccpb.KeyValue {
	if rapid.IntRange(0, 20).Draw(t, "nilKV") == 0 {
		return nil
	}
	kv := &mvccpb.KeyValue{
		Key:            rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "key"),
		CreateRevision: rapid.Int64().Draw(t, "create"),
		ModRevision:    rapid.Int64Range(0, 1<<40).Draw(t, "mod"),
		Version:        rapid.Int64Range(-1, 100).Draw(t, "version"),
		Value:          rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value"),
		Lease:          rapid.Int64Range(-2, 1<<62).Draw(t, "lease"),
	}
	drawUnknown(t, kv)
	return kv
}

func drawKVs(t *rapid.T) []*mvccpb.KeyValue {
	n := rapid.IntRange(-1, 3).Draw(t, "kvs")
	if n < 0 {
		return nil
	}
	kvs := make([]*mvccpb.KeyValue, n)
	for i := range kvs {
		kvs[i] = drawKV(t)
	}
	return kvs
}

func drawPutResponse(t *rapid.T) *pb.PutResponse {
	r := &pb.PutResponse{Header: drawHeader(t)}
	if rapid.Bool().Draw(t, "prevKV") {
		r.PrevKv = drawKV(t)
	}
	drawUnknown(t, r)
	return r
}

func drawRangeResponse(t *rapid.T) *pb.RangeResponse {
	r := &pb.RangeResponse{Header: drawHeader(t), Kvs: drawKVs(t), More: rapid.Bool().Draw(t, "more"),
		Count: rapid.Int64Range(-1, 1<<40).Draw(t, "count")}
	drawUnknown(t, r)
	return r
}

func drawDeleteRangeResponse(t *rapid.T) *pb.DeleteRangeResponse {
	r := &pb.DeleteRangeResponse{Header: drawHeader(t), Deleted: rapid.Int64Range(-1, 1<<40).Draw(t, "deleted"),
		PrevKvs: drawKVs(t)}
	drawUnknown(t, r)
	return r
}

func drawTxnResponse(t *rapid.T, depth int) *pb.TxnResponse {
	r := &pb.TxnResponse{Header: drawHeader(t), Succeeded: rapid.Bool().Draw(t, "succeeded")}
	n := rapid.IntRange(-1, 3).Draw(t, "ops")
	for range n {
		if rapid.IntRange(0, 20).Draw(t, "nilOp") == 0 {
			r.Responses = append(r.Responses, nil)
			continue
		}
		op := &pb.ResponseOp{}
		kind := rapid.IntRange(0, 5).Draw(t, "opKind")
		if kind == 4 && depth >= 10 {
			kind = 0
		}
		switch kind {
		case 0:
			op.Response = &pb.ResponseOp_ResponseRange{ResponseRange: drawRangeResponse(t)}
		case 1:
			op.Response = &pb.ResponseOp_ResponsePut{ResponsePut: drawPutResponse(t)}
		case 2:
			op.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: drawDeleteRangeResponse(t)}
		case 3:
			op.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: drawTxnResponse(t, depth+1)}
		case 4:
			// A wrapper holding nil, or no answer at all.
			if rapid.Bool().Draw(t, "nilWrapper") {
				op.Response = &pb.ResponseOp_ResponsePut{}
			}
		case 5:
			op.Response = &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: drawHeader(t)}}
		}
		drawUnknown(t, op)
		r.Responses = append(r.Responses, op)
	}
	drawUnknown(t, r)
	return r
}

// BenchmarkMarshalResponse encodes a put's and a txn-put's answer by hand
// and with protobuf-go, into a buffer large enough, as the lean server
// does.
func BenchmarkMarshalResponse(b *testing.B) {
	hdr := &pb.ResponseHeader{ClusterId: 0x1234567890abcdef, MemberId: 0xfedcba0987654321, Revision: 1234567, RaftTerm: 3}
	msgs := map[string]proto.Message{
		"put": &pb.PutResponse{Header: hdr},
		"txn-put": &pb.TxnResponse{Header: hdr, Succeeded: true, Responses: []*pb.ResponseOp{
			{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: hdr}}},
		}},
	}
	encoders := map[string]func([]byte, proto.Message) ([]byte, error){
		"hand":        MarshalResponse,
		"protobuf-go": proto.MarshalOptions{}.MarshalAppend,
	}
	for _, msg := range []string{"put", "txn-put"} {
		for _, enc := range []string{"hand", "protobuf-go"} {
			b.Run(msg+"/"+enc, func(b *testing.B) {
				buf := make([]byte, 0, 1024)
				m, f := msgs[msg], encoders[enc]
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f(buf, m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
