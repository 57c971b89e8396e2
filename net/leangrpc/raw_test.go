package leangrpc_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"metastore/net/leangrpc"
)

// rawConn opens an HTTP/2 connection to a server with opts and returns a
// Framer on it, after the preface and an empty SETTINGS.
func rawConn(t *testing.T, opts leangrpc.Options) *http2.Framer {
	t.Helper()
	return rawConnServing(t, opts, func(g *leangrpc.Server) { pb.RegisterKVServer(g, &blockingKV{}) })
}

// rawConnServing is rawConn to a server with the services register gives
// it.
func rawConnServing(t *testing.T, opts leangrpc.Options, register func(*leangrpc.Server)) *http2.Framer {
	t.Helper()
	g := leangrpc.NewServer(opts)
	register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	nc, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nc, nc)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// readUntilEOF returns the frame types read before the connection ended.
func readUntilEOF(t *testing.T, fr *http2.Framer) []http2.FrameType {
	t.Helper()
	var types []http2.FrameType
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return types
		}
		if err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			continue
		}
		types = append(types, f.Header().Type)
	}
}

func TestKeepalivePingsAndClosesSilentClient(t *testing.T) {
	fr := rawConn(t, leangrpc.Options{KeepaliveTime: 20 * time.Millisecond, KeepaliveTimeout: 50 * time.Millisecond})
	types := readUntilEOF(t, fr)
	sawPing := false
	for _, ty := range types {
		sawPing = sawPing || ty == http2.FramePing
	}
	if !sawPing {
		t.Fatalf("closed without a PING first: %v", types)
	}
}

func TestMaxConnectionIdleSendsGoAway(t *testing.T) {
	fr := rawConn(t, leangrpc.Options{MaxConnectionIdle: 20 * time.Millisecond})
	types := readUntilEOF(t, fr)
	if len(types) == 0 || types[len(types)-1] != http2.FrameGoAway {
		t.Fatalf("idle connection ended with %v, want GOAWAY last", types)
	}
}

func TestPingAnswered(t *testing.T) {
	fr := rawConn(t, leangrpc.Options{})
	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := fr.WritePing(false, data); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := f.(*http2.PingFrame); ok {
			if !p.IsAck() || p.Data != data {
				t.Fatalf("ping answer %+v", p)
			}
			return
		}
	}
}

func TestMaxConnectionAgeSendsGoAway(t *testing.T) {
	fr := rawConn(t, leangrpc.Options{MaxConnectionAge: 20 * time.Millisecond, MaxConnectionAgeGrace: time.Minute})
	types := readUntilEOF(t, fr)
	if len(types) == 0 || types[len(types)-1] != http2.FrameGoAway {
		t.Fatalf("old connection ended with %v, want GOAWAY last", types)
	}
}

// Malformed input ends at most its own connection: each of these is sent
// on a fresh connection, and a well-behaved client is served afterwards.
func TestMalformedInputLeavesServerServing(t *testing.T) {
	g := leangrpc.NewServer(leangrpc.Options{MaxRecvMsgSize: 1 << 10})
	pb.RegisterKVServer(g, &blockingKV{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	hdrs := func(fr *http2.Framer, id uint32, block []byte, end bool) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: end})
	}
	// A valid request header block for KV/Put, HPACK literals.
	var put []byte
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/etcdserverpb.KV/Put"},
		{":authority", "x"}, {"content-type", "application/grpc"}} {
		put = append(put, 0, byte(len(kv[0])))
		put = append(put, kv[0]...)
		put = append(put, byte(len(kv[1])))
		put = append(put, kv[1]...)
	}
	cases := map[string]func(fr *http2.Framer) error{
		"garbage": func(fr *http2.Framer) error {
			_, err := fr.ReadFrame() // let the preface be read first
			_ = err
			return fr.WriteRawFrame(0xee, 0xff, 7, bytes.Repeat([]byte{0xff}, 100))
		},
		"bad hpack":   func(fr *http2.Framer) error { return hdrs(fr, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff}, true) },
		"even stream": func(fr *http2.Framer) error { return hdrs(fr, 2, put, false) },
		"data on stream 0": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FrameData, http2.FlagDataEndStream, 0, []byte("x"))
		},
		"data on idle": func(fr *http2.Framer) error { return fr.WriteData(9, true, []byte("x")) },
		"rst on idle":  func(fr *http2.Framer) error { return fr.WriteRSTStream(11, http2.ErrCodeCancel) },
		"compressed": func(fr *http2.Framer) error {
			if err := hdrs(fr, 1, put, false); err != nil {
				return err
			}
			return fr.WriteData(1, true, []byte{1, 0, 0, 0, 1, 0})
		},
		"too large": func(fr *http2.Framer) error {
			if err := hdrs(fr, 1, put, false); err != nil {
				return err
			}
			return fr.WriteData(1, true, []byte{0, 0, 1, 0, 0})
		},
		"truncated message": func(fr *http2.Framer) error {
			if err := hdrs(fr, 1, put, false); err != nil {
				return err
			}
			return fr.WriteData(1, true, []byte{0, 0, 0, 0, 9, 1})
		},
		"window overflow": func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<31-1) },
		"ping too short": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FramePing, 0, 0, []byte{1, 2, 3})
		},
		"ping on a stream": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8))
		},
		"window update too long": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, make([]byte, 5))
		},
		"window update of 0": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, make([]byte, 4))
		},
		"stream window update of 0": func(fr *http2.Framer) error {
			if err := hdrs(fr, 1, put, false); err != nil {
				return err
			}
			return fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, make([]byte, 4))
		},
		"headers on stream 0": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, put)
		},
		"headers padding too long": func(fr *http2.Framer) error {
			p := append([]byte{byte(len(put) + 1)}, put...)
			return fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, p)
		},
		"headers priority short": func(fr *http2.Framer) error {
			return fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPriority, 1, []byte{0, 0})
		},
		"continuation flood": func(fr *http2.Framer) error {
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: put}); err != nil {
				return err
			}
			field := []byte{0, 1, 'a', 1, 'b'} // a: b, 37 bytes as HPACK counts them
			frag := bytes.Repeat(field, 16000/len(field))
			for range 4 * (1 << 20) / (len(frag) / len(field) * 37) {
				if err := fr.WriteContinuation(1, false, frag); err != nil {
					return nil // the server hung up: what the case is for
				}
			}
			return nil
		},
	}
	wantGoAway := map[string]http2.ErrCode{
		"bad hpack":              http2.ErrCodeCompression,
		"data on stream 0":       http2.ErrCodeProtocol,
		"continuation flood":     http2.ErrCodeEnhanceYourCalm,
		"window overflow":        http2.ErrCodeFlowControl,
		"headers on stream 0":    http2.ErrCodeProtocol,
		"ping too short":         http2.ErrCodeFrameSize,
		"ping on a stream":       http2.ErrCodeProtocol,
		"window update too long": http2.ErrCodeFrameSize,
		"window update of 0":     http2.ErrCodeProtocol,
	}
	wantReset := map[string]http2.ErrCode{
		"headers padding too long":  http2.ErrCodeProtocol,
		"stream window update of 0": http2.ErrCodeProtocol,
	}
	for name, send := range cases {
		nc, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, http2.ClientPreface)
		fr := http2.NewFramer(nc, nc)
		fr.WriteSettings()
		if err := send(fr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Read what the server answers until it closes, or for a moment
		// when the input only ends a stream.
		nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var goAway, reset http2.ErrCode = 0xff, 0xff
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				break
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				goAway = f.ErrCode
			case *http2.RSTStreamFrame:
				reset = f.ErrCode
			}
		}
		nc.Close()
		if want, ok := wantGoAway[name]; ok && goAway != want {
			t.Errorf("%s: GOAWAY code %v, want %v", name, goAway, want)
		}
		if want, ok := wantReset[name]; ok && reset != want {
			t.Errorf("%s: RST_STREAM code %v, want %v", name, reset, want)
		}
	}
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := pb.NewKVClient(cc).Put(ctxT(t), &pb.PutRequest{Key: []byte("k")}); err != nil {
		t.Fatalf("after malformed input: %v", err)
	}
}

// Streams the client resets still count against MaxConcurrentStreams while
// their handlers run, so opening and resetting streams in a loop cannot
// start handlers without bound.
func TestResetStreamsCountWhileHandlersRun(t *testing.T) {
	b := &blockingKV{deadline: make(chan time.Time, 2), release: make(chan struct{})}
	g := leangrpc.NewServer(leangrpc.Options{MaxConcurrentStreams: 2})
	pb.RegisterKVServer(g, b)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	defer close(b.release)
	nc, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, http2.ClientPreface)
	fr := http2.NewFramer(nc, nc)
	fr.WriteSettings()
	var block []byte
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"},
		{":path", "/etcdserverpb.KV/DeleteRange"}, {"content-type", "application/grpc"}} {
		block = append(block, 0, byte(len(kv[0])))
		block = append(block, kv[0]...)
		block = append(block, byte(len(kv[1])))
		block = append(block, kv[1]...)
	}
	open := func(id uint32) {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := fr.WriteData(id, true, []byte{0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []uint32{1, 3} {
		open(id)
		<-b.deadline // its handler runs, and will until released
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
	}
	open(5)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer to stream 5: %v", err)
		}
		if f.Header().StreamID != 5 {
			continue
		}
		rst, ok := f.(*http2.RSTStreamFrame)
		if !ok || rst.ErrCode != http2.ErrCodeRefusedStream {
			t.Fatalf("stream 5 got %v, want RST_STREAM REFUSED_STREAM", f)
		}
		return
	}
}
