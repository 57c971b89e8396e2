package transport

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/net/tlsutil"
	"metastore/net/tlsutil/tlstest"
)

// startTLSMember is startMember serving https with peer client-cert auth:
// its certificate from ca serves and dials; peers are verified against
// trust.
func startTLSMember(t *testing.T, id uint64, dir string, ca *tlstest.CA, trust string) *member {
	t.Helper()
	f, err := ca.WriteFiles(dir, "m"+string(rune('0'+id)), "member", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	info := tlsutil.Info{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: trust, ClientCertAuth: true}
	srvCfg, err := info.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	m := &member{unrch: make(chan uint64, 1024), snaps: make(chan snapReport, 16)}
	m.opts = Options{ClusterToken: "tls", TLS: cliCfg, OnUnreachable: func(uint64) {}}
	m.t = New(id, m.opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.url = "https://" + lis.Addr().String()
	m.serve(tls.NewListener(lis, srvCfg))
	t.Cleanup(func() {
		m.srv.Stop()
		m.t.Close()
	})
	return m
}

func TestExchangeOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("peers")
	if err != nil {
		t.Fatal(err)
	}
	trust := dir + "/peers-ca.crt"
	a := startTLSMember(t, 1, dir, ca, trust)
	b := startTLSMember(t, 2, dir, ca, trust)
	link(t, a, b)
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 5)})
	if got := receive(t, b); got.GetTerm() != 5 || got.GetFrom() != 1 {
		t.Fatalf("got %v", got)
	}
	// https peers keep gRPC: the direct stream has no TLS.
	if n := directStreams(b); n != 0 {
		t.Fatalf("an https peer opened %d direct streams", n)
	}

	// A member whose certificate another CA signed is not let in.
	rogueCA, err := tlstest.NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	rdir := t.TempDir()
	rf, err := rogueCA.WriteFiles(rdir, "x", "x", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r := startTLSMember(t, 3, rdir, rogueCA, rf.CA)
	// It trusts b's CA, so only b's check of r's certificate can refuse.
	if r.t.opts.TLS, err = (tlsutil.Info{CertFile: rf.Cert, KeyFile: rf.Key, TrustedCAFile: trust}).ClientConfig(); err != nil {
		t.Fatal(err)
	}
	if err := r.t.AddPeer(2, []string{b.url}); err != nil {
		t.Fatal(err)
	}
	r.t.Send([]*raftpb.Message{heartbeat(3, 2, 9)})
	select {
	case m := <-b.t.Incoming():
		t.Fatalf("a peer with an untrusted certificate delivered %v", m)
	case <-time.After(time.Second):
	}
}

func TestHTTPSPeerNeedsTLS(t *testing.T) {
	tr := New(1, Options{})
	defer tr.Close()
	if err := tr.AddPeer(2, []string{"https://127.0.0.1:1"}); err == nil {
		t.Fatal("an https peer was added without peer TLS")
	}
}
