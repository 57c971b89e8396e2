package transport

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"metastore/core"
)

var _ core.Network = (*Transport)(nil)

// patience bounds waits for events that normally take milliseconds; the
// tests assert that they happen, never how fast.
const patience = 20 * time.Second

// member is a Transport with its own peer server on 127.0.0.1.
type member struct {
	t     *Transport
	srv   *grpc.Server
	url   string
	opts  Options
	unrch chan uint64
	snaps chan snapReport
	// grpcOnly serves the peer gRPC server alone, as a member that
	// predates the direct stream does.
	grpcOnly bool
}

type snapReport struct {
	id uint64
	ok bool
}

func startMember(t *testing.T, id uint64, opts Options) *member {
	t.Helper()
	return startMemberServing(t, id, opts, false)
}

func startMemberServing(t *testing.T, id uint64, opts Options, grpcOnly bool) *member {
	t.Helper()
	m := &member{unrch: make(chan uint64, 1024), snaps: make(chan snapReport, 16), grpcOnly: grpcOnly}
	if opts.ClusterToken == "" {
		opts.ClusterToken = "test-cluster"
	}
	opts.OnUnreachable = func(id uint64) {
		select {
		case m.unrch <- id:
		default:
		}
	}
	opts.OnSnapshotStatus = func(id uint64, ok bool) { m.snaps <- snapReport{id, ok} }
	m.opts = opts
	m.t = New(id, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.url = "http://" + lis.Addr().String()
	m.serve(lis)
	t.Cleanup(func() {
		m.srv.Stop()
		m.t.Close()
	})
	return m
}

func (m *member) serve(lis net.Listener) {
	m.srv = grpc.NewServer(ServerOptions(m.opts)...)
	m.t.Register(m.srv)
	if !m.grpcOnly {
		lis = m.t.Listener(lis)
	}
	go m.srv.Serve(lis)
}

func link(t *testing.T, ms ...*member) {
	t.Helper()
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				if err := a.t.AddPeer(b.t.self, []string{b.url}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func heartbeat(from, to, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(term)}
}

func receive(t *testing.T, m *member) *raftpb.Message {
	t.Helper()
	select {
	case msg := <-m.t.Incoming():
		return msg
	case <-time.After(patience):
		t.Fatalf("member %d received nothing", m.t.self)
		return nil
	}
}

func TestExchange(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{})
	link(t, a, b)
	for term := uint64(1); term <= 50; term++ {
		a.t.Send([]*raftpb.Message{heartbeat(1, 2, term)})
	}
	for term := uint64(1); term <= 50; term++ {
		got := receive(t, b)
		// One stream per peer pair keeps order while the link holds.
		if got.GetTerm() != term || got.GetFrom() != 1 || got.GetType() != raftpb.MsgHeartbeat {
			t.Fatalf("message %d: got %v", term, got)
		}
	}
	b.t.Send([]*raftpb.Message{heartbeat(2, 1, 7)})
	if got := receive(t, a); got.GetTerm() != 7 || got.GetFrom() != 2 {
		t.Fatalf("reverse: got %v", got)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestLargeSnapshotArrivesIntact(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{})
	link(t, a, b)
	data := randomBytes(10<<20, 42)
	snap := &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(3),
		Snapshot: &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(1000), Term: proto.Uint64(3),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}},
		}},
	}
	a.t.Send([]*raftpb.Message{snap})
	got := receive(t, b)
	if got.GetType() != raftpb.MsgSnap || got.GetSnapshot().GetMetadata().GetIndex() != 1000 {
		t.Fatalf("got %v, want the snapshot", got.GetType())
	}
	if !bytes.Equal(got.GetSnapshot().GetData(), data) {
		t.Fatalf("snapshot data differs (%d bytes, want %d)", len(got.GetSnapshot().GetData()), len(data))
	}
	select {
	case r := <-a.snaps:
		if r != (snapReport{2, true}) {
			t.Fatalf("snapshot report %+v, want {2 true}", r)
		}
	case <-time.After(patience):
		t.Fatal("no snapshot report")
	}
}

func TestOversizedMessageTravelsInChunks(t *testing.T) {
	opts := Options{MaxMsgBytes: 64 << 10, ChunkBytes: 16 << 10}
	a, b := startMember(t, 1, opts), startMember(t, 2, opts)
	link(t, a, b)
	ents := []*raftpb.Entry{{Index: proto.Uint64(5), Term: proto.Uint64(1), Data: randomBytes(200<<10, 7)}}
	a.t.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Entries: ents}})
	got := receive(t, b)
	if got.GetType() != raftpb.MsgApp || len(got.GetEntries()) != 1 || !bytes.Equal(got.GetEntries()[0].GetData(), ents[0].GetData()) {
		t.Fatalf("oversized MsgApp did not arrive intact: %v", got.GetType())
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	a, b := startMember(t, 1, Options{RetryMax: 200 * time.Millisecond}), startMember(t, 2, Options{})
	link(t, a, b)
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	receive(t, b)

	addr := b.url[len("http://"):]
	b.srv.Stop()
	// Messages sent while b is down are dropped and reported.
	deadline := time.Now().Add(patience)
	reported := false
	for !reported && time.Now().Before(deadline) {
		a.t.Send([]*raftpb.Message{heartbeat(1, 2, 2)})
		select {
		case id := <-a.unrch:
			reported = id == 2
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !reported {
		t.Fatal("peer 2 was never reported unreachable while down")
	}

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	b.serve(lis)
	for {
		a.t.Send([]*raftpb.Message{heartbeat(1, 2, 3)})
		select {
		case got := <-b.t.Incoming():
			if got.GetTerm() == 3 {
				return
			}
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after the peer server restarted")
		}
	}
}

func TestWrongClusterTokenRejected(t *testing.T) {
	b := startMember(t, 2, Options{ClusterToken: "right", ClusterID: 0xc1})
	conn, err := grpc.NewClient(mustTarget(t, b.url), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"wrong token", []string{mdToken, "wrong", mdFrom, "1"}, codes.PermissionDenied},
		{"no token", []string{mdFrom, "1"}, codes.PermissionDenied},
		{"no sender", []string{mdToken, "right"}, codes.InvalidArgument},
		{"other cluster ID", []string{mdToken, "right", mdCluster, "c2", mdFrom, "1"}, codes.PermissionDenied},
		// A joined member states 0: it cannot know the ID; its token vouches.
		{"unknown cluster ID", []string{mdToken, "right", mdCluster, "0", mdFrom, "1"}, codes.OK},
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), tc.md...)
		s, err := conn.NewStream(ctx, &serviceDesc.Streams[0], MessageMethod)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := proto.Marshal(heartbeat(1, 2, 1))
		_ = s.SendMsg(&wrapperspb.BytesValue{Value: b})
		if tc.want == codes.OK {
			// Accepted: the receiver ends the stream only once the
			// sender closes it.
			_ = s.CloseSend()
		}
		err = s.RecvMsg(new(wrapperspb.BytesValue))
		if tc.want == codes.OK && err == io.EOF {
			continue
		}
		if status.Code(err) != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestMismatchedTransportsExchangeNothingAndReport(t *testing.T) {
	a := startMember(t, 1, Options{ClusterToken: "one", RetryMax: 100 * time.Millisecond})
	b := startMember(t, 2, Options{ClusterToken: "two"})
	link(t, a, b)
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	select {
	case id := <-a.unrch:
		if id != 2 {
			t.Fatalf("reported %d", id)
		}
	case <-time.After(patience):
		t.Fatal("rejected peer was never reported unreachable")
	}
	select {
	case m := <-b.t.Incoming():
		t.Fatalf("member of another cluster delivered %v", m)
	default:
	}
}

func TestSnapshotToUnknownPeerFails(t *testing.T) {
	a := startMember(t, 1, Options{})
	a.t.Send([]*raftpb.Message{{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(9), Snapshot: &raftpb.Snapshot{}}})
	select {
	case r := <-a.snaps:
		if r != (snapReport{9, false}) {
			t.Fatalf("got %+v, want {9 false}", r)
		}
	case <-time.After(patience):
		t.Fatal("no snapshot report")
	}
}

func TestQueueOverflowReportsUnreachable(t *testing.T) {
	a := startMember(t, 1, Options{QueueMessages: 1})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String()
	lis.Close() // nobody listens there now
	if err := a.t.AddPeer(2, []string{dead}); err != nil {
		t.Fatal(err)
	}
	msgs := make([]*raftpb.Message, 100)
	for i := range msgs {
		msgs[i] = heartbeat(1, 2, 1)
	}
	a.t.Send(msgs)
	select {
	case id := <-a.unrch:
		if id != 2 {
			t.Fatalf("reported %d", id)
		}
	case <-time.After(patience):
		t.Fatal("overflow was not reported")
	}
}

func TestPeerMembership(t *testing.T) {
	a, b := startMember(t, 1, Options{}), startMember(t, 2, Options{})
	if err := a.t.AddPeer(2, []string{"https://127.0.0.1:1"}); err == nil {
		t.Fatal("https URL accepted")
	}
	if err := a.t.AddPeer(2, []string{"http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	// Updating the URLs replaces the connection.
	if err := a.t.AddPeer(2, []string{"http://127.0.0.1:1", b.url}); err != nil {
		t.Fatal(err)
	}
	if err := a.t.AddPeer(1, []string{b.url}); err != nil {
		t.Fatal(err)
	}
	if got := a.t.Peers(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("peers %v, want [2] (self is never a peer)", got)
	}
	// The first URL is dead; the transport rotates to the second.
	deadline := time.Now().Add(patience)
	for delivered := false; !delivered; {
		a.t.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
		select {
		case <-b.t.Incoming():
			delivered = true
		case <-time.After(20 * time.Millisecond):
		}
		if !delivered && time.Now().After(deadline) {
			t.Fatal("never reached the second URL")
		}
	}
	a.t.RemovePeer(2)
	if got := a.t.Peers(); len(got) != 0 {
		t.Fatalf("peers %v after RemovePeer", got)
	}
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 9)}) // dropped silently
}

func TestCloseIsFinal(t *testing.T) {
	a := startMember(t, 1, Options{})
	a.t.Close()
	a.t.Close()
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	if err := a.t.AddPeer(2, []string{"http://127.0.0.1:1"}); err == nil {
		t.Fatal("AddPeer after Close succeeded")
	}
}

func mustTarget(t *testing.T, u string) string {
	t.Helper()
	tg, err := Target(u)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"http://127.0.0.1:2380", "dns:///127.0.0.1:2380", true},
		{"http://[::1]:2380/", "dns:///[::1]:2380", true},
		{"http://node-1.example:2380", "dns:///node-1.example:2380", true},
		{"https://127.0.0.1:2380", "dns:///127.0.0.1:2380", true},
		{"unix://127.0.0.1:2380", "", false},
		{"http://127.0.0.1", "", false},
		{"127.0.0.1:2380", "", false},
		{"http://127.0.0.1:2380/raft", "", false},
	} {
		got, err := Target(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Target(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
