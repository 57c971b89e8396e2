package core

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// TestUnmarshalRequestIsProtoUnmarshal checks the hand decoding against
// proto.Unmarshal over random requests, and that every plain write takes
// the hand decoding.
func TestUnmarshalRequestIsProtoUnmarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := drawRequest(t)
		data, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, data)
		d := decoder{size: len(data)}
		if _, hand := d.write(data); hand != plainWrite(req) {
			t.Fatalf("hand-decoded %v, plain write %v: %v", hand, plainWrite(req), req)
		}
	})
}

// TestUnmarshalRequestCorrupt checks that on damaged input the hand
// decoding still gives what proto.Unmarshal gives, its error included:
// bytes changed, cut short or appended (fields of unknown numbers, wrong
// wire types, bad lengths, invalid UTF-8, repeated messages to merge).
func TestUnmarshalRequestCorrupt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data, err := proto.Marshal(drawRequest(t))
		if err != nil {
			t.Fatal(err)
		}
		for range rapid.IntRange(1, 4).Draw(t, "damages") {
			switch rapid.IntRange(0, 3).Draw(t, "damage") {
			case 0:
				if len(data) > 0 {
					data[rapid.IntRange(0, len(data)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "byte")
				}
			case 1:
				data = data[:rapid.IntRange(0, len(data)).Draw(t, "cut")]
			case 2:
				data = append(data, rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "tail")...)
			case 3:
				data = append(data, data...)
			}
		}
		checkDecode(t, data)
	})
}

func checkDecode(t *rapid.T, data []byte) {
	want := &pb.InternalRaftRequest{}
	wantErr := proto.Unmarshal(data, want)
	got, err := UnmarshalRequest(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("UnmarshalRequest(%x) error %v, proto.Unmarshal's %v", data, err, wantErr)
	}
	if err == nil && !proto.Equal(got, want) {
		t.Fatalf("UnmarshalRequest(%x)\n got %v\nwant %v", data, got, want)
	}
}

// TestUnmarshalRequestAllocations pins what decoding a follower's entry
// allocates: the request with its header and put or txn, the txn's op
// list, and the op with its request; the bytes are the entry's own.
func TestUnmarshalRequestAllocations(t *testing.T) {
	put := &pb.PutRequest{Key: []byte("key-000000000042"), Value: make([]byte, 256)}
	hdr := &pb.RequestHeader{ID: 1 << 60}
	for _, c := range []struct {
		name   string
		req    *pb.InternalRaftRequest
		allocs float64
	}{
		{"put", &pb.InternalRaftRequest{Header: hdr, Put: put}, 1},
		{"txn-put", &pb.InternalRaftRequest{Header: hdr, Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}}}, 3},
	} {
		data, err := proto.Marshal(c.req)
		if err != nil {
			t.Fatal(err)
		}
		got := testing.AllocsPerRun(100, func() {
			if _, err := UnmarshalRequest(data); err != nil {
				t.Fatal(err)
			}
		})
		if got != c.allocs {
			t.Errorf("%s: %v allocations per decode, want %v", c.name, got, c.allocs)
		}
	}
}

// BenchmarkEntryDecoding is a follower's decoding of a put's and a
// txn-put's entry (apply: as requestOf decodes it).
func BenchmarkEntryDecoding(b *testing.B) {
	put := &pb.PutRequest{Key: []byte("key-000000000042"), Value: make([]byte, 256)}
	hdr := &pb.RequestHeader{ID: 1 << 60}
	for _, c := range []struct {
		name string
		req  *pb.InternalRaftRequest
	}{
		{"put", &pb.InternalRaftRequest{Header: hdr, Put: put}},
		{"txn-put", &pb.InternalRaftRequest{Header: hdr, Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}}}},
	} {
		data, err := proto.Marshal(c.req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(data, &pb.InternalRaftRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UnmarshalRequest(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		// As requestOf decodes: a put into the replica's messages.
		b.Run(c.name+"/apply", func(b *testing.B) {
			var reused putWrite
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unmarshalRequest(data, &reused); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnmarshalTxnRequestIsProtoUnmarshal checks the client txn decoding
// against proto.Unmarshal over random txns, whole or damaged, into a
// message already holding another txn (which both must clear).
func TestUnmarshalTxnRequestIsProtoUnmarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data, err := proto.Marshal(drawTxn(t, 2))
		if err != nil {
			t.Fatal(err)
		}
		if rapid.Bool().Draw(t, "damage") && len(data) > 0 {
			data[rapid.IntRange(0, len(data)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "byte")
			data = data[:rapid.IntRange(0, len(data)).Draw(t, "cut")]
		}
		want := &pb.TxnRequest{}
		wantErr := proto.Unmarshal(data, want)
		got := drawTxn(t, 0)
		err = UnmarshalTxnRequest(data, got)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("UnmarshalTxnRequest(%x) error %v, proto.Unmarshal's %v", data, err, wantErr)
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatalf("UnmarshalTxnRequest(%x)\n got %v\nwant %v", data, got, want)
		}
	})
}

// BenchmarkClientTxnDecoding is a gRPC server's decoding of a client's
// txn-put, into the message the generated handler allocates.
func BenchmarkClientTxnDecoding(b *testing.B) {
	put := &pb.PutRequest{Key: []byte("key-000000000042"), Value: make([]byte, 256)}
	data, err := proto.Marshal(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(data, new(pb.TxnRequest)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := UnmarshalTxnRequest(data, new(pb.TxnRequest)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
