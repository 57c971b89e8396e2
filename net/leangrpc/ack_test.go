package leangrpc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/proto"

	"metastore/net/leangrpc"
)

// A PING that arrives while a unary call is in flight waits for that
// call's answer to share its write, but not for ever: with the call held
// until the ack is read, the ack must still come, and the answer after it.
func TestPingAckedWhileCallInFlight(t *testing.T) {
	kv := &blockingKV{deadline: make(chan time.Time, 1), release: make(chan struct{})}
	fr := rawConnServing(t, leangrpc.Options{Workers: 2}, func(g *leangrpc.Server) { pb.RegisterKVServer(g, kv) })
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/etcdserverpb.KV/DeleteRange"), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	<-kv.deadline // the handler runs, and holds its answer
	for i := range 3 {
		pingAcked(t, fr, byte(i))
	}
	close(kv.release)
	var resp pb.DeleteRangeResponse
	for ended := false; !ended; {
		switch f := nextFrame(t, fr).(type) {
		case *http2.DataFrame:
			if err := proto.Unmarshal(f.Data()[5:], &resp); err != nil {
				t.Fatal(err)
			}
		case *http2.HeadersFrame:
			ended = f.StreamEnded()
		default:
			t.Fatalf("got %v, want the answer", f)
		}
	}
	if resp.Deleted != 7 {
		t.Fatalf("answer %+v, want Deleted 7", &resp)
	}
}

// echoKV answers Put with the request's key as its previous key.
type echoKV struct{ pb.UnimplementedKVServer }

func (echoKV) Put(_ context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	return &pb.PutResponse{PrevKv: &mvccKV{Key: req.Key}}, nil
}

// Calls answered concurrently, with PINGs between the requests (as
// grpc-go's clients send them), each get their own answer on their own
// stream, and every PING its ack, exactly once.
func TestAcksAndAnswersInterleaved(t *testing.T) {
	fr := rawConnServing(t, leangrpc.Options{Workers: 8, KeepaliveMinTime: time.Nanosecond, KeepalivePermitWithoutStream: true},
		func(g *leangrpc.Server) { pb.RegisterKVServer(g, echoKV{}) })
	put := requestBlock("/etcdserverpb.KV/Put")
	const calls = 300
	answered := make(map[uint32]bool)
	acked := make(map[byte]bool)
	pending := make(map[uint32]string) // stream -> key of its answer, read and not yet ended
	for i := range calls {
		id := uint32(2*i + 1)
		req, err := proto.Marshal(&pb.PutRequest{Key: []byte(fmt.Sprintf("key-%d", id))})
		if err != nil {
			t.Fatal(err)
		}
		msg := append([]byte{0, 0, 0, 0, byte(len(req))}, req...)
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: put, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := fr.WriteData(id, true, msg); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := fr.WritePing(false, [8]byte{byte(i / 3)}); err != nil {
				t.Fatal(err)
			}
		}
		// Read in batches, so that answers queue up behind held acks.
		if i%10 != 9 {
			continue
		}
		for len(answered) < i+1 || len(acked) < i/3+1 {
			switch f := nextFrame(t, fr).(type) {
			case *http2.PingFrame:
				if !f.IsAck() || acked[f.Data[0]] {
					t.Fatalf("unexpected or repeated ping %v", f)
				}
				acked[f.Data[0]] = true
			case *http2.DataFrame:
				var resp pb.PutResponse
				if err := proto.Unmarshal(f.Data()[5:], &resp); err != nil {
					t.Fatal(err)
				}
				pending[f.StreamID] = string(resp.PrevKv.GetKey())
			case *http2.HeadersFrame:
				if !f.StreamEnded() {
					continue
				}
				if want := fmt.Sprintf("key-%d", f.StreamID); pending[f.StreamID] != want || answered[f.StreamID] {
					t.Fatalf("stream %d ended with answer %q (answered before: %v), want %q", f.StreamID, pending[f.StreamID], answered[f.StreamID], want)
				}
				answered[f.StreamID] = true
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			}
		}
	}
}
