package transport

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// randomMessage sets a random subset of the fields decodeFast takes on,
// zero values included (a set zero is not an unset field).
func randomMessage(rng *rand.Rand) *raftpb.Message {
	u := func() *uint64 {
		if rng.IntN(3) == 0 {
			return nil
		}
		v := []uint64{0, 1, rng.Uint64N(1 << 20), rng.Uint64()}[rng.IntN(4)]
		return &v
	}
	m := &raftpb.Message{To: u(), From: u(), Term: u(), LogTerm: u(), Index: u(), Commit: u(), RejectHint: u(), Vote: u()}
	if rng.IntN(4) != 0 {
		m.Type = raftpb.MessageType(rng.IntN(len(raftpb.MessageType_name))).Enum()
	}
	if rng.IntN(3) == 0 {
		m.Reject = proto.Bool(rng.IntN(2) == 0)
	}
	if rng.IntN(4) == 0 {
		m.Context = randomBytes(rng.IntN(3)*7, rng.Uint64())
	}
	for range rng.IntN(4) {
		e := &raftpb.Entry{Term: u(), Index: u()}
		if rng.IntN(3) != 0 {
			e.Type = raftpb.EntryType(rng.IntN(len(raftpb.EntryType_name))).Enum()
		}
		if rng.IntN(4) != 0 {
			e.Data = randomBytes(rng.IntN(3)*150, rng.Uint64())
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

// The fast decoder gives what proto.Unmarshal gives, for messages encoded
// whole and with shared entries, and keeps none of the buffer's neighbours
// reachable through its slices' capacity.
func TestDecodeFastMatchesUnmarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 3000 {
		m := randomMessage(rng)
		var b []byte
		if i%2 == 0 {
			b = encode(t, m)
		} else {
			var enc encoder
			e, err := enc.encode(m)
			if err != nil {
				t.Fatal(err)
			}
			b = e.joined()
		}
		want := new(raftpb.Message)
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFast(bytes.Clone(b))
		if !ok {
			t.Fatalf("message %d: fast decoding refused %v", i, want)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("message %d: decoded\n%v\nwant\n%v", i, got, want)
		}
		for _, e := range got.Entries {
			if cap(e.Data) != len(e.Data) {
				t.Fatalf("message %d: entry data has capacity %d past its %d bytes", i, cap(e.Data), len(e.Data))
			}
		}
		if cap(got.Context) != len(got.Context) {
			t.Fatalf("message %d: context has capacity %d past its %d bytes", i, cap(got.Context), len(got.Context))
		}
	}
}

// What the fast decoder does not take on goes to proto.Unmarshal, and
// Transport.decode still gives the message (or the error) it gives.
func TestDecodeFallsBackToUnmarshal(t *testing.T) {
	snap := snapMsg(1, 2, 9)
	withResponses := &raftpb.Message{Type: raftpb.MsgStorageAppend.Enum(), Responses: []*raftpb.Message{heartbeat(1, 2, 3)}}
	unknownEnum := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 999)
	unknownField := protowire.AppendVarint(protowire.AppendTag(encode(t, heartbeat(1, 2, 3)), 15, protowire.VarintType), 5)
	badEntryEnum := protowire.AppendBytes(protowire.AppendTag(nil, fieldEntries, protowire.BytesType),
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 77))
	cases := map[string][]byte{
		"snapshot":           encode(t, snap),
		"responses":          encode(t, withResponses),
		"unknown type":       unknownEnum,
		"unknown field":      unknownField,
		"unknown entry type": badEntryEnum,
		"fixed64 to":         protowire.AppendFixed64(protowire.AppendTag(nil, 2, protowire.Fixed64Type), 5),
	}
	tr := New(2, Options{})
	defer tr.Close()
	for name, b := range cases {
		if _, ok := decodeFast(bytes.Clone(b)); ok {
			t.Errorf("%s: fast decoding took it on", name)
		}
		want := new(raftpb.Message)
		wantErr := proto.Unmarshal(b, want)
		got, err := tr.decode(bytes.Clone(b))
		if (err != nil) != (wantErr != nil) || (err == nil && !proto.Equal(got, want)) {
			t.Errorf("%s: decode gave %v, %v; Unmarshal %v, %v", name, got, err, want, wantErr)
		}
	}
	for _, b := range [][]byte{{0x10}, {0x3a, 5, 1}, {0x08, 0x80}} {
		if _, err := tr.decode(b); err == nil {
			t.Errorf("malformed % x decoded", b)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b, err := proto.Marshal(randomMessage(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeFast(bytes.Clone(b))
		if !ok {
			return
		}
		want := new(raftpb.Message)
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatalf("fast decoding took on what Unmarshal refuses (%v): %v", err, got)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("decoded\n%v\nwant\n%v", got, want)
		}
	})
}

// BenchmarkDecode decodes what a follower receives under load.
func BenchmarkDecode(b *testing.B) {
	resp := &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
		Term: proto.Uint64(3), Index: proto.Uint64(120), Commit: proto.Uint64(119)}
	msgs := map[string]*raftpb.Message{
		"MsgAppResp":      resp,
		"MsgApp/1entry":   msgApp(1, 2, 2, 99, 99, entries(100, 100, 2, 300)),
		"MsgApp/4entries": msgApp(1, 2, 2, 99, 99, entries(100, 103, 2, 300)),
	}
	for _, name := range []string{"MsgAppResp", "MsgApp/1entry", "MsgApp/4entries"} {
		enc, err := proto.Marshal(msgs[name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("unmarshal/%s", name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(enc, new(raftpb.Message)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("fast/%s", name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				// As serveDirect does: a buffer per frame.
				if _, ok := decodeFast(bytes.Clone(enc)); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
