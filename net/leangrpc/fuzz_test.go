package leangrpc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"metastore/net/leangrpc"
)

// fuzzKV answers Put at once (with a header and a trailer) and fails Range.
type fuzzKV struct{ pb.UnimplementedKVServer }

func (fuzzKV) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	grpc.SetHeader(ctx, metadata.Pairs("h", "v"))
	grpc.SetTrailer(ctx, metadata.Pairs("t-bin", string(req.Key)))
	return &pb.PutResponse{}, nil
}

// fuzzWatch answers every request it reads until the client ends.
type fuzzWatch struct{ pb.UnimplementedWatchServer }

func (fuzzWatch) Watch(stream pb.Watch_WatchServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.Send(&pb.WatchResponse{WatchId: int64(len(req.GetCreateRequest().GetKey()))}); err != nil {
			return err
		}
	}
}

// fuzzSeeds are client frame sequences (after the preface) that reach the
// server's paths: calls unary and streaming, metadata, timeouts, split
// header blocks, resets, pings, settings and window updates.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	block := func(path string, extra ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		fields := append([]string{":method", "POST", ":scheme", "http", ":path", path, ":authority", "x",
			"content-type", "application/grpc"}, extra...)
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return b.Bytes()
	}
	msg := func(n int) []byte {
		m := make([]byte, 5+n)
		m[4] = byte(n)
		for i := range n {
			m[5+i] = 0x0a // field 1, length-delimited: a key of what follows
		}
		if n >= 2 {
			m[5], m[6] = 0x0a, byte(n-2)
		}
		return m
	}
	frames := func(write func(fr *http2.Framer)) {
		var b bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		write(fr)
		seeds = append(seeds, b.Bytes())
	}
	frames(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("/etcdserverpb.KV/Put",
			"grpc-timeout", "5S", "token", "a", "x-bin", "AAEC"), EndHeaders: true})
		fr.WriteData(1, true, msg(4))
		fr.WritePing(false, [8]byte{1})
	})
	frames(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("/etcdserverpb.KV/Put"),
			EndHeaders: true, PadLength: 4, Priority: http2.PriorityParam{Weight: 3}})
		fr.WriteData(1, true, msg(2))
	})
	frames(func(fr *http2.Framer) {
		hb := block("/etcdserverpb.Watch/Watch")
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb[:3]})
		fr.WriteContinuation(3, true, hb[3:])
		fr.WriteData(3, false, msg(6))
		fr.WriteWindowUpdate(3, 100)
		fr.WriteData(3, false, msg(3)[:4])
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WriteWindowUpdate(0, 1000)
	})
	frames(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block("/etcdserverpb.KV/Range"), EndHeaders: true})
		fr.WriteDataPadded(5, true, msg(0), make([]byte, 7))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, BlockFragment: block("/no/such"), EndHeaders: true, EndStream: true})
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
		fr.WriteSettingsAck()
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	})
	return seeds
}

// FuzzConn feeds arbitrary frames, after the client preface, to one
// server connection: whatever they are, the server must not panic, must
// keep reading them (it answers into a client that reads everything), and
// once the client hangs up the connection must end and the server stop.
// The input's first byte picks server options: workers or a goroutine a
// call, the stream limit, and the ping policy.
func FuzzConn(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(append([]byte{0}, s...))
		f.Add(append([]byte{7}, s...))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		var choice byte
		if len(input) > 0 {
			choice, input = input[0], input[1:]
		}
		opts := leangrpc.Options{
			MaxRecvMsgSize:       1 << 10,
			MaxConcurrentStreams: 8,
			// Within the ping policy, so the input decides when the
			// connection ends.
			KeepaliveMinTime:             time.Nanosecond,
			KeepalivePermitWithoutStream: true,
		}
		if choice&1 != 0 {
			opts.Workers = 2
		}
		if choice&2 != 0 {
			opts.MaxConcurrentStreams = 1
		}
		if choice&4 != 0 {
			opts.KeepaliveMinTime, opts.KeepalivePermitWithoutStream = time.Hour, false
		}
		g := leangrpc.NewServer(opts)
		pb.RegisterKVServer(g, fuzzKV{})
		pb.RegisterWatchServer(g, fuzzWatch{})
		client, server := net.Pipe()
		served := make(chan struct{})
		go func() {
			g.ServeConn(server)
			close(served)
		}()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := client.Write(append([]byte(http2.ClientPreface), input...))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server stopped reading a client that reads its answers")
		}
		client.Close()
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Fatal("the connection did not end after the client closed it")
		}
		stopped := make(chan struct{})
		go func() {
			g.Stop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Fatal("Stop did not return")
		}
	})
}
