package core

import (
	"bytes"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"
)

// TestMarshalRequestIsProtoMarshal checks the hand encoding against
// proto.Marshal, byte for byte, over random writes with every field of
// the messages it encodes drawn (zero values, negative numbers, empty and
// absent oneof members, nested txns) and over requests it leaves to
// proto.Marshal.
func TestMarshalRequestIsProtoMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := drawRequest(t)
		want, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("MarshalRequest(%v)\n got %x\nwant %x", req, got, want)
		}
		if n := RequestSize(req); n != len(want) {
			t.Fatalf("RequestSize = %d, encoded %d bytes", n, len(want))
		}
		if req.Put != nil {
			if n, want := PutRequestSize(req.Put), proto.Size(req.Put); n != want {
				t.Fatalf("PutRequestSize = %d, proto.Size %d", n, want)
			}
		}
	})
}

// TestMarshalRequestHandEncodesWrites checks that the writes clients send
// take the hand encoding (which the comparison above cannot tell from
// the fallback) and that requests it does not know take proto.Marshal.
func TestMarshalRequestHandEncodesWrites(t *testing.T) {
	put := &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}
	hdr := &pb.RequestHeader{ID: 7}
	txn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}}
	withUnknown := &pb.PutRequest{Key: []byte("k")}
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	for _, c := range []struct {
		req  *pb.InternalRaftRequest
		hand bool
	}{
		{&pb.InternalRaftRequest{Header: hdr, Put: put}, true},
		{&pb.InternalRaftRequest{Header: hdr, Txn: txn}, true},
		{&pb.InternalRaftRequest{Txn: txn}, true},
		{&pb.InternalRaftRequest{Header: hdr, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}, true},
		{&pb.InternalRaftRequest{Header: hdr, Put: put, Txn: txn}, false},
		{&pb.InternalRaftRequest{Header: hdr, Put: put, ID: 3}, false},
		{&pb.InternalRaftRequest{Header: hdr, Compaction: &pb.CompactionRequest{Revision: 2}}, false},
		{&pb.InternalRaftRequest{Header: hdr, Put: withUnknown}, false},
		{&pb.InternalRaftRequest{Header: hdr, Txn: &pb.TxnRequest{Success: []*pb.RequestOp{{}}}}, false},
	} {
		hand := plainWrite(c.req)
		if hand != c.hand {
			t.Errorf("plainWrite(%v) = %v, want %v", c.req, hand, c.hand)
		}
		got, err := MarshalRequest(c.req)
		want, _ := proto.Marshal(c.req)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("MarshalRequest(%v) = %x, %v; want %x", c.req, got, err, want)
		}
	}
}

// TestPlainWriteKnowsEveryField fails when the request message gains a
// field plainWrite does not check, which the hand encoding would drop.
func TestPlainWriteKnowsEveryField(t *testing.T) {
	fields := (&pb.InternalRaftRequest{}).ProtoReflect().Descriptor().Fields()
	var names []string
	for i := range fields.Len() {
		names = append(names, string(fields.Get(i).Name()))
	}
	slices.Sort(names)
	known := []string{"ID", "alarm", "auth_disable", "auth_enable", "auth_role_add", "auth_role_delete",
		"auth_role_get", "auth_role_grant_permission", "auth_role_list", "auth_role_revoke_permission",
		"auth_status", "auth_user_add", "auth_user_change_password", "auth_user_delete", "auth_user_get",
		"auth_user_grant_role", "auth_user_list", "auth_user_revoke_role", "authenticate",
		"cluster_member_attr_set", "cluster_version_set", "compaction", "delete_range",
		"downgrade_info_set", "downgrade_version_test", "header", "lease_checkpoint", "lease_grant",
		"lease_revoke", "put", "range", "txn"}
	if !slices.Equal(names, known) {
		t.Fatalf("InternalRaftRequest's fields changed: %v; plainWrite checks %v", names, known)
	}
	// Every field but the ones encoded by hand must make plainWrite false.
	for i := range fields.Len() {
		f := fields.Get(i)
		switch f.Name() {
		case "header", "put", "delete_range", "txn":
			continue
		}
		req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k")}}
		m := req.ProtoReflect()
		if f.Kind() == protoreflect.MessageKind {
			m.Set(f, protoreflect.ValueOfMessage(m.NewField(f).Message()))
		} else {
			m.Set(f, protoreflect.ValueOfUint64(1))
		}
		if plainWrite(req) {
			t.Errorf("plainWrite accepts a put with %s set", f.Name())
		}
	}
}

func drawBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 3).Draw(t, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(t, label)
}

// drawInt64 favours the values whose encodings differ in length: zero,
// small, large and negative.
func drawInt64(t *rapid.T, label string) int64 {
	switch rapid.IntRange(0, 3).Draw(t, label+"Kind") {
	case 0:
		return 0
	case 1:
		return rapid.Int64Range(-3, 300).Draw(t, label)
	}
	return rapid.Int64().Draw(t, label)
}

func drawRequest(t *rapid.T) *pb.InternalRaftRequest {
	req := &pb.InternalRaftRequest{}
	if rapid.IntRange(0, 4).Draw(t, "header") > 0 {
		req.Header = &pb.RequestHeader{ID: rapid.Uint64().Draw(t, "id")}
		if rapid.Bool().Draw(t, "auth") {
			req.Header.Username = rapid.StringN(0, 20, -1).Draw(t, "user")
			req.Header.AuthRevision = uint64(drawInt64(t, "authRev"))
		}
	}
	switch rapid.IntRange(0, 4).Draw(t, "kind") {
	case 0:
		req.Put = drawPut(t)
	case 1:
		req.DeleteRange = drawDelete(t)
	case 2, 3:
		req.Txn = drawTxn(t, 2)
	case 4:
		// Not a plain write: proto.Marshal's.
		req.Put = drawPut(t)
		req.LeaseGrant = &pb.LeaseGrantRequest{TTL: 5, ID: 9}
	}
	return req
}

func drawPut(t *rapid.T) *pb.PutRequest {
	return &pb.PutRequest{
		Key: drawBytes(t, "key"), Value: drawBytes(t, "value"), Lease: drawInt64(t, "lease"),
		PrevKv: rapid.Bool().Draw(t, "prevKV"), IgnoreValue: rapid.Bool().Draw(t, "ignoreValue"),
		IgnoreLease: rapid.Bool().Draw(t, "ignoreLease"),
	}
}

func drawDelete(t *rapid.T) *pb.DeleteRangeRequest {
	return &pb.DeleteRangeRequest{Key: drawBytes(t, "key"), RangeEnd: drawBytes(t, "end"), PrevKv: rapid.Bool().Draw(t, "prevKV")}
}

func drawRange(t *rapid.T) *pb.RangeRequest {
	return &pb.RangeRequest{
		Key: drawBytes(t, "key"), RangeEnd: drawBytes(t, "end"), Limit: drawInt64(t, "limit"),
		Revision:     drawInt64(t, "rev"),
		SortOrder:    pb.RangeRequest_SortOrder(rapid.IntRange(-1, 3).Draw(t, "order")),
		SortTarget:   pb.RangeRequest_SortTarget(rapid.IntRange(-1, 5).Draw(t, "target")),
		Serializable: rapid.Bool().Draw(t, "serializable"), KeysOnly: rapid.Bool().Draw(t, "keysOnly"),
		CountOnly: rapid.Bool().Draw(t, "countOnly"), MinModRevision: drawInt64(t, "minMod"),
		MaxModRevision: drawInt64(t, "maxMod"), MinCreateRevision: drawInt64(t, "minCreate"),
		MaxCreateRevision: drawInt64(t, "maxCreate"),
	}
}

func drawCompare(t *rapid.T) *pb.Compare {
	c := &pb.Compare{
		Result: pb.Compare_CompareResult(rapid.IntRange(-1, 4).Draw(t, "result")),
		Target: pb.Compare_CompareTarget(rapid.IntRange(-1, 5).Draw(t, "target")),
		Key:    drawBytes(t, "key"), RangeEnd: drawBytes(t, "end"),
	}
	switch rapid.IntRange(0, 5).Draw(t, "union") {
	case 1:
		c.TargetUnion = &pb.Compare_Version{Version: drawInt64(t, "version")}
	case 2:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: drawInt64(t, "create")}
	case 3:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: drawInt64(t, "mod")}
	case 4:
		c.TargetUnion = &pb.Compare_Value{Value: drawBytes(t, "value")}
	case 5:
		c.TargetUnion = &pb.Compare_Lease{Lease: drawInt64(t, "lease")}
	}
	return c
}

func drawTxn(t *rapid.T, depth int) *pb.TxnRequest {
	txn := &pb.TxnRequest{}
	for range rapid.IntRange(0, 3).Draw(t, "compares") {
		txn.Compare = append(txn.Compare, drawCompare(t))
	}
	drawOps := func(label string) []*pb.RequestOp {
		var ops []*pb.RequestOp
		for range rapid.IntRange(0, 3).Draw(t, label) {
			op := &pb.RequestOp{}
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0:
				op.Request = &pb.RequestOp_RequestRange{RequestRange: drawRange(t)}
			case 1, 2:
				op.Request = &pb.RequestOp_RequestPut{RequestPut: drawPut(t)}
			case 3:
				op.Request = &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: drawDelete(t)}
			case 4:
				if depth == 0 {
					op.Request = &pb.RequestOp_RequestPut{RequestPut: drawPut(t)}
				} else {
					op.Request = &pb.RequestOp_RequestTxn{RequestTxn: drawTxn(t, depth-1)}
				}
			}
			ops = append(ops, op)
		}
		return ops
	}
	txn.Success = drawOps("success")
	txn.Failure = drawOps("failure")
	return txn
}

// BenchmarkProposalEncoding is what a proposal's encoding costs the
// server: the size check before proposing, then the encoding, for a put
// and for etcd's benchmark txn-put (a txn with no compares and one put).
func BenchmarkProposalEncoding(b *testing.B) {
	key, value := []byte("key-000000000042"), make([]byte, 256)
	put := &pb.PutRequest{Key: key, Value: value}
	txn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}}
	for _, c := range []struct {
		name string
		req  *pb.InternalRaftRequest
	}{
		{"put", &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1 << 60}, Put: put}},
		{"txn-put", &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1 << 60}, Txn: txn}},
	} {
		b.Run(c.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = proto.Size(c.req)
				if _, err := proto.Marshal(c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = RequestSize(c.req)
				if _, err := MarshalRequest(c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
