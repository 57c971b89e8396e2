package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// directStreams is how many direct streams m is serving.
func directStreams(m *member) int {
	m.t.mu.RLock()
	defer m.t.mu.RUnlock()
	return len(m.t.direct)
}

// exchange sends heartbeats from a to b until one arrives and reports how
// many direct streams b served meanwhile.
func exchange(t *testing.T, a, b *member) int {
	t.Helper()
	a.t.Send([]*raftpb.Message{heartbeat(a.t.self, b.t.self, 1)})
	if got := receive(t, b); got.GetFrom() != a.t.self {
		t.Fatalf("got %v", got)
	}
	return directStreams(b)
}

func TestMessagesTakeTheDirectStream(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{})
	link(t, a, b)
	if n := exchange(t, a, b); n != 1 {
		t.Fatalf("receiver serves %d direct streams, want 1", n)
	}
}

func TestOldPeerGetsGRPCMessages(t *testing.T) {
	a := startMember(t, 1, Options{})
	old := startMemberServing(t, 2, Options{GRPCMessages: true}, true)
	link(t, a, old)
	exchange(t, a, old)
	// And back: a serves both kinds on one listener.
	if n := exchange(t, old, a); n != 0 {
		t.Fatalf("a gRPC-only sender opened %d direct streams", n)
	}
}

func TestGRPCMessagesOption(t *testing.T) {
	a, b := startMember(t, 1, Options{GRPCMessages: true}), startMember(t, 2, Options{})
	link(t, a, b)
	if n := exchange(t, a, b); n != 0 {
		t.Fatalf("GRPCMessages sender opened %d direct streams", n)
	}
}

func TestDirectStreamChecksTheHeader(t *testing.T) {
	b := startMember(t, 2, Options{ClusterToken: "right", ClusterID: 0xc1})
	addr := strings.TrimPrefix(b.url, "http://")
	for _, tc := range []struct {
		name                 string
		token, cluster, from string
		refused              string // part of the reason; "" accepted
	}{
		{"wrong token", "wrong", "c1", "1", "cluster token mismatch"},
		{"no sender", "right", "c1", "", "missing sender"},
		{"other cluster ID", "right", "c2", "1", "cluster ID mismatch"},
		{"unknown cluster ID", "right", "0", "1", ""},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(patience))
		hello := []byte(directMagic)
		for _, f := range []string{tc.token, tc.cluster, tc.from} {
			hello = binary.AppendUvarint(hello, uint64(len(f)))
			hello = append(hello, f...)
		}
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		head := make([]byte, len(directMagic)+1)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(head[:len(directMagic)]) != directMagic {
			t.Fatalf("%s: answer %q", tc.name, head)
		}
		accepted := head[len(directMagic)] == 0
		switch {
		case tc.refused == "" && !accepted:
			t.Errorf("%s: refused", tc.name)
		case tc.refused == "":
			// Accepted: a frame is delivered.
			msg := encode(t, heartbeat(1, 2, 9))
			frame := append(binary.AppendUvarint(nil, uint64(len(msg))), msg...)
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, b); got.GetTerm() != 9 {
				t.Errorf("%s: delivered %v", tc.name, got)
			}
		case accepted:
			t.Errorf("%s: accepted", tc.name)
		default:
			reason, err := readField(r, 1<<16)
			if err != nil || !strings.Contains(string(reason), tc.refused) {
				t.Errorf("%s: reason %q (%v), want it to mention %q", tc.name, reason, err, tc.refused)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("%s: connection still open after a refusal (%v)", tc.name, err)
			}
		}
		c.Close()
	}
}

func TestCloseEndsServedDirectStreams(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{})
	link(t, a, b)
	exchange(t, a, b)
	done := make(chan struct{})
	go func() {
		b.t.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("Close waited on a served direct stream")
	}
	if n := directStreams(b); n != 0 {
		t.Fatalf("%d direct streams left after Close", n)
	}
}

func encode(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Messages of a megabyte, several socket buffers' worth while the receiver
// takes one at a time, arrive whole and in order on the direct stream.
func TestLargeMessagesArriveWholeInOrder(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{IncomingMessages: 1})
	link(t, a, b)
	const n, size = 24, 1 << 20
	for i := range uint64(n) {
		a.t.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
			Index: proto.Uint64(i), Entries: []*raftpb.Entry{{Data: randomBytes(size, i)}}}})
		a.t.Send([]*raftpb.Message{heartbeat(1, 2, i)})
	}
	for i := range uint64(n) {
		got := receive(t, b)
		if got.GetType() != raftpb.MsgApp || got.GetIndex() != i || len(got.GetEntries()) != 1 ||
			!bytes.Equal(got.GetEntries()[0].GetData(), randomBytes(size, i)) {
			t.Fatalf("message %d: got %v index %d", i, got.GetType(), got.GetIndex())
		}
		if hb := receive(t, b); hb.GetType() != raftpb.MsgHeartbeat || hb.GetTerm() != i {
			t.Fatalf("heartbeat %d: got %v term %d", i, hb.GetType(), hb.GetTerm())
		}
	}
	if n := directStreams(b); n != 1 {
		t.Fatalf("receiver serves %d direct streams, want 1", n)
	}
}

// flakyListener fails its first Accept with EMFILE, as a listener does
// while the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestListenerOutlivesATemporaryAcceptError(t *testing.T) {
	tr := New(1, Options{ClusterToken: "test-cluster"})
	defer tr.Close()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tr.Listener(&flakyListener{Listener: inner})
	defer l.Close()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("not a direct stream")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Accept after a temporary error: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("no connection passed on after a temporary accept error")
	}
}
