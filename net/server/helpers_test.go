package server

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"metastore/core"
	"metastore/core/engine"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/net/transport"
)

// testTick keeps elections fast in tests (10 ticks: 100 ms).
const testTick = 10 * time.Millisecond

// member is one in-process server: replica, node, services, client.
type member struct {
	id      uint64
	name    string
	dir     string
	node    *Node
	srv     *Server
	grpc    *grpc.Server
	lis     net.Listener
	peerLis net.Listener
	peerSrv *grpc.Server
	tr      *transport.Transport
	cli     *clientv3.Client
	// expectFailure: the test made the replica fail-stop on purpose.
	expectFailure bool
	// engine, when set, is the member's engine at every start (a durable
	// one keeps its state across them); nil: a fresh memory engine.
	engine engine.Engine
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func (m *member) clientURL() string { return "http://" + m.lis.Addr().String() }
func (m *member) peerURL() string   { return "http://" + m.peerLis.Addr().String() }

type dropNetwork struct{}

func (dropNetwork) Send([]*raftpb.Message) {}

func seededRand() *rand.Rand {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}

// memberOpts tweak a member's server config before it starts.
type memberOpts func(*Config)

// startSingle starts a one-member cluster and a client for it.
func startSingle(t testing.TB, opts ...memberOpts) *member {
	t.Helper()
	m := &member{id: 1, name: "solo", dir: t.TempDir()}
	var err error
	if m.lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	m.start(t, core.Config{ID: 1, Peers: []uint64{1}, Network: dropNetwork{}}, nil, opts...)
	waitLeader(t, m)
	return m
}

// start opens the replica in m.dir and serves it on m.lis. With a
// transport, peers get messages through it.
func (m *member) start(t testing.TB, rc core.Config, peers map[uint64]string, opts ...memberOpts) {
	t.Helper()
	m.startWith(t, rc, realworld.OSDisk{}, peers, opts...)
}

func (m *member) startWith(t testing.TB, rc core.Config, d core.Disk, peers map[uint64]string, opts ...memberOpts) {
	t.Helper()
	base := m.engine
	if base == nil {
		base = memory.New()
	}
	eng := NewSizedEngine(base)
	rc.Dir = filepath.Join(m.dir, "member")
	rc.Disk = d
	rc.Clock = realworld.NewClock()
	rc.Engine = eng
	rc.Rand = seededRand()
	rc.Pipeline = true
	var incoming <-chan *raftpb.Message
	var node *Node
	if m.peerLis != nil {
		m.tr = transport.New(m.id, transport.Options{
			ClusterToken:     "test",
			OnUnreachable:    func(id uint64) { node.ReportUnreachable(id) },
			OnSnapshotStatus: func(id uint64, ok bool) { node.ReportSnapshot(id, ok) },
			RetryMin:         10 * time.Millisecond,
			RetryMax:         200 * time.Millisecond,
			Snapshots:        core.NewSnapshotFiles(d, rc.Dir),
		})
		rc.Network = m.tr
		incoming = m.tr.Incoming()
	}
	r, err := core.Open(rc)
	if err != nil {
		t.Fatalf("open replica %d: %v", m.id, err)
	}
	node = NewNode(r, NodeConfig{TickInterval: testTick, Incoming: incoming})
	cfg := Config{
		Name:               m.name,
		ClusterID:          0xc1,
		ClientURLs:         []string{m.clientURL()},
		RequestTimeout:     3 * time.Second,
		DBSize:             eng.Size,
		WatchSyncInterval:  10 * time.Millisecond,
		MemberSyncInterval: 50 * time.Millisecond,
	}
	if m.tr != nil {
		cfg.PeerURLs = []string{m.peerURL()}
		cfg.Transport = m.tr
	}
	for _, o := range opts {
		o(&cfg)
	}
	m.srv = New(node, cfg)
	m.node = node
	if m.tr != nil {
		m.peerSrv = grpc.NewServer(transport.ServerOptions(transport.Options{})...)
		m.tr.Register(m.peerSrv)
		go m.peerSrv.Serve(m.tr.Listener(m.peerLis))
		for id, u := range peers {
			if id != m.id {
				if err := m.tr.AddPeer(id, []string{u}); err != nil {
					t.Fatal(err)
				}
				m.srv.Seed(id, []string{u})
			}
		}
	}
	m.grpc = grpc.NewServer(m.srv.GRPCOptions()...)
	m.srv.Register(m.grpc)
	node.Start()
	go m.grpc.Serve(m.lis)
	m.cli, err = clientv3.New(clientv3.Config{
		Endpoints:   []string{m.clientURL()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
}

// stop shuts the member down in the order cmd does; idempotent.
func (m *member) stop() {
	if m.node == nil {
		return
	}
	m.cli.Close()
	m.grpc.Stop()
	if m.peerSrv != nil {
		m.peerSrv.Stop()
	}
	m.srv.Close()
	if m.tr != nil {
		m.tr.Close()
	}
	m.node.Stop()
	if err := m.node.Err(); err != nil && !m.expectFailure {
		panic(fmt.Sprintf("member %d failed: %v", m.id, err))
	}
	m.node = nil
}

// waitLeader polls until m sees a leader.
func waitLeader(t testing.TB, m *member) uint64 {
	t.Helper()
	var lead uint64
	eventually(t, 10*time.Second, func() error {
		lead = m.node.Status().Leader
		if lead == 0 {
			return fmt.Errorf("member %d: no leader", m.id)
		}
		return nil
	})
	return lead
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
