package server

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// TestUnmarshalPutRequestMatchesProto holds the hand decoding of a
// PutRequest to proto.Unmarshal's result and error, for requests as
// clients encode them and for damaged, repeated, unknown and mistyped
// fields, into a message holding another request's fields.
func TestUnmarshalPutRequestMatchesProto(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := putRequestBytes(t)
		if rapid.Bool().Draw(t, "damage") && len(b) > 0 {
			switch rapid.IntRange(0, 2).Draw(t, "how") {
			case 0:
				b = b[:rapid.IntRange(0, len(b)-1).Draw(t, "cut")]
			case 1:
				i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
				b[i] = rapid.Byte().Draw(t, "byte")
			case 2:
				b = append(b, rapid.SliceOfN(rapid.Byte(), 1, 12).Draw(t, "tail")...)
			}
		}
		want, got := stalePut(), stalePut()
		werr := proto.Unmarshal(b, want)
		input := bytes.Clone(b)
		gerr := UnmarshalRequest(input, got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("error %v, proto's %v (input %x)", gerr, werr, b)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("error %q, proto's %q", gerr, werr)
			}
			return
		}
		if !proto.Equal(want, got) || (want.Key == nil) != (got.Key == nil) || (want.Value == nil) != (got.Value == nil) {
			t.Fatalf("decoded %v, proto's %v (input %x)", got, want, b)
		}
		// An append to the key must not write into the value.
		_ = append(got.Key, bytes.Repeat([]byte{0xAA}, 8)...)
		if !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("appending to the key changed the value to %x", got.Value)
		}
		// The request outlives the buffer it came in (the lean server
		// reuses it): nothing may alias it.
		clear(input)
		if !proto.Equal(want, got) {
			t.Fatalf("decoded message shares the input's bytes: %v after clearing, proto's %v", got, want)
		}
	})
}

// stalePut is a destination holding a previous request's fields, which
// decoding must clear.
func stalePut() *pb.PutRequest {
	return &pb.PutRequest{Key: []byte("old"), Value: []byte("stale"), Lease: 9, PrevKv: true, IgnoreValue: true, IgnoreLease: true}
}

// putRequestBytes draws a PutRequest encoded by proto.Marshal, sometimes
// followed by fields of its own or others: a later key, value or flag
// overrides an earlier one, flags may be any varint, and a field may come
// with a wire type that is not its own.
func putRequestBytes(t *rapid.T) []byte {
	p := &pb.PutRequest{
		Key:         rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "key"),
		Value:       rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value"),
		Lease:       rapid.Int64().Draw(t, "lease"),
		PrevKv:      rapid.Bool().Draw(t, "prevKV"),
		IgnoreValue: rapid.Bool().Draw(t, "ignoreValue"),
		IgnoreLease: rapid.Bool().Draw(t, "ignoreLease"),
	}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for range rapid.IntRange(0, 4).Draw(t, "extra") {
		num := protowire.Number(rapid.IntRange(1, 9).Draw(t, "num"))
		switch rapid.IntRange(0, 2).Draw(t, "type") {
		case 0:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "bytes"))
		case 1:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, rapid.Uint64().Draw(t, "varint"))
		case 2:
			b = protowire.AppendTag(b, num, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, rapid.Uint32().Draw(t, "fixed"))
		}
	}
	return b
}

// TestUnmarshalPutRequestAllocatesOnce: a client's put decodes with its key
// and value in one allocation (proto.Unmarshal makes one each).
func TestUnmarshalPutRequestAllocatesOnce(t *testing.T) {
	b, err := proto.Marshal(&pb.PutRequest{Key: []byte("key"), Value: make([]byte, 256), Lease: 7, PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	var p pb.PutRequest
	if n := testing.AllocsPerRun(100, func() {
		if err := UnmarshalRequest(b, &p); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("%v allocations per decoded put, want 1", n)
	}
}
