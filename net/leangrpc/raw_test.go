package leangrpc_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/net/http2"

	"metastore/net/leangrpc"
)

// rawConn opens an HTTP/2 connection to a server with opts and returns a
// Framer on it, after the preface and an empty SETTINGS.
func rawConn(t *testing.T, opts leangrpc.Options) *http2.Framer {
	t.Helper()
	g := leangrpc.NewServer(opts)
	pb.RegisterKVServer(g, &blockingKV{})
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
