package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"metastore/net/tlsutil"
	"metastore/net/tlsutil/tlstest"
)

// clusterTLS is a cluster's TLS setup: one CA made in the test, one member
// certificate for 127.0.0.1 shared by every member, and a client
// certificate (common name "root") for the test's own clients.
type clusterTLS struct {
	clientHTTPS, peerHTTPS bool
	clientCertAuth         bool // --client-cert-auth
	peerCertAuth           bool // --peer-client-cert-auth
	extra                  []string
	// rootPassword, when set, makes the harness's own clients log in as
	// root (auth_test.go): once auth is on, Status needs a user.
	rootPassword string

	ca     *tlstest.CA
	server tlstest.Files
	user   tlstest.Files // CN=root, for clientv3 and etcdctl
}

func newClusterTLSSetup(t *testing.T, s clusterTLS) *clusterTLS {
	t.Helper()
	dir := t.TempDir()
	var err error
	if s.ca, err = tlstest.NewCA("e2e"); err != nil {
		t.Fatal(err)
	}
	if s.server, err = s.ca.WriteFiles(dir, "server", "member", "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	if s.user, err = s.ca.WriteFiles(dir, "root", "root"); err != nil {
		t.Fatal(err)
	}
	return &s
}

func (s *clusterTLS) flags() []string {
	if s == nil {
		return nil
	}
	var f []string
	if s.clientHTTPS {
		f = append(f, "--cert-file="+s.server.Cert, "--key-file="+s.server.Key, "--trusted-ca-file="+s.server.CA)
		if s.clientCertAuth {
			f = append(f, "--client-cert-auth")
		}
	}
	if s.peerHTTPS {
		f = append(f, "--peer-cert-file="+s.server.Cert, "--peer-key-file="+s.server.Key, "--peer-trusted-ca-file="+s.server.CA)
		if s.peerCertAuth {
			f = append(f, "--peer-client-cert-auth")
		}
	}
	return append(f, s.extra...)
}

// ctlTLS are etcdctl's flags to reach the cluster as the "root" client.
func (s *clusterTLS) ctlTLS() []string {
	return []string{"--cacert=" + s.server.CA, "--cert=" + s.user.Cert, "--key=" + s.user.Key}
}

func (s *clusterTLS) newClient(eps ...string) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if s != nil && s.rootPassword != "" {
		cfg.Username, cfg.Password = "root", s.rootPassword
	}
	if s != nil && s.clientHTTPS {
		info := tlsutil.Info{CertFile: s.user.Cert, KeyFile: s.user.Key, TrustedCAFile: s.server.CA}
		if s.ca == nil {
			info = tlsutil.Info{AutoTLS: true} // --auto-tls: nothing to verify against
		}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
		for i, ep := range eps {
			eps[i] = "https://" + ep
		}
	}
	return clientv3.New(cfg)
}

func (c *cluster) clientScheme() string {
	if c.tls != nil && c.tls.clientHTTPS {
		return "https://"
	}
	return "http://"
}

func (c *cluster) peerScheme() string {
	if c.tls != nil && c.tls.peerHTTPS {
		return "https://"
	}
	return "http://"
}

// httpsEps are the members' client URLs with https://.
func httpsEps(c *cluster) []string {
	var eps []string
	for _, ep := range c.endpoints() {
		eps = append(eps, "https://"+ep)
	}
	return eps
}

// ctlFails runs etcdctl and expects it to fail with stderr containing want.
func ctlFails(t *testing.T, eps []string, want string, args ...string) {
	t.Helper()
	// A refusal is certain; do not wait out etcdctl's default timeouts.
	out, errOut, err := ctlRun(eps, "", append([]string{"--dial-timeout=1s", "--command-timeout=2s"}, args...)...)
	if err == nil {
		t.Fatalf("etcdctl %s succeeded, want a failure: %s", strings.Join(args, " "), out)
	}
	if !strings.Contains(errOut, want) {
		t.Fatalf("etcdctl %s failed with %q, want %q", strings.Join(args, " "), errOut, want)
	}
}

// TestTLSServer: clients reach an https member with the CA; a client that
// does not trust the CA, and a plaintext client, are refused.
func TestTLSServer(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true})
	c := newClusterTLS(t, 1, sec)
	eps := httpsEps(c)
	ctl(t, eps, "", "--cacert="+sec.server.CA, "put", "tls/k", "v")
	wantLines(t, "get over TLS", ctl(t, eps, "", "--cacert="+sec.server.CA, "get", "tls/k"), "tls/k", "v")
	// The system roots do not know the test's CA.
	ctlFails(t, eps, "certificate", "get", "tls/k")
	// Plaintext on the TLS port.
	ctlFails(t, c.endpoints(), "", "--insecure-transport=true", "get", "tls/k")
	ctlFails(t, []string{"http://" + c.members[0].client}, "", "get", "tls/k")
}

// TestTLSClientCertAuth: with --client-cert-auth only clients with a
// certificate from the trusted CA get in.
func TestTLSClientCertAuth(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true, clientCertAuth: true})
	c := newClusterTLS(t, 1, sec)
	eps := httpsEps(c)
	ctl(t, eps, "", append(sec.ctlTLS(), "put", "mtls/k", "v")...)
	wantLines(t, "get with a client certificate", ctl(t, eps, "", append(sec.ctlTLS(), "get", "mtls/k")...), "mtls/k", "v")

	ctlFails(t, eps, "", "--cacert="+sec.server.CA, "get", "mtls/k") // no certificate
	rogue, err := tlstest.NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := rogue.WriteFiles(t.TempDir(), "mallory", "root")
	if err != nil {
		t.Fatal(err)
	}
	ctlFails(t, eps, "", "--cacert="+sec.server.CA, "--cert="+bad.Cert, "--key="+bad.Key, "get", "mtls/k")
	ctlFails(t, []string{"http://" + c.members[0].client}, "", "get", "mtls/k")
}

// TestTLSPeers3: three members talk raft over mutual TLS and serve clients
// over TLS; a lease kept alive through a follower (forwarded to the leader
// over https) works.
func TestTLSPeers3(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true, clientCertAuth: true, peerHTTPS: true, peerCertAuth: true,
		extra: []string{"--heartbeat-interval=50", "--election-timeout=500"}})
	c := newClusterTLS(t, 3, sec)
	eps := httpsEps(c)
	ctl(t, eps[:1], "", append(sec.ctlTLS(), "put", "peers/k", "v")...)
	for _, ep := range eps {
		wantLines(t, "get on "+ep, ctl(t, []string{ep}, "", append(sec.ctlTLS(), "get", "peers/k")...), "peers/k", "v")
	}
	out := ctl(t, eps[:1], "", append(sec.ctlTLS(), "member", "list")...)
	for _, m := range c.members {
		if !strings.Contains(out, "https://"+m.peer) || !strings.Contains(out, "https://"+m.client) {
			t.Fatalf("member list %q lacks %s's https URLs", out, m.name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, err := c.waitLeader(ctx, c.members)
	if err != nil {
		t.Fatal(err)
	}
	var follower *member
	for _, m := range c.members {
		if m != leader {
			follower = m
			break
		}
	}
	cli := c.client(follower.client)
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	// NB: "no leader" is etcd's transient answer while the follower has not
	// yet seen the leader's client URL (or leadership moved); retry it.
	for {
		_, err := cli.KeepAliveOnce(ctx, lease.ID)
		if err == nil {
			break
		}
		if !errors.Is(err, rpctypes.ErrNoLeader) || ctx.Err() != nil {
			t.Fatalf("keep-alive through a follower over TLS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ttl, err := cli.TimeToLive(ctx, lease.ID)
	if err != nil || ttl.TTL <= 0 {
		t.Fatalf("time-to-live through a follower: %v %v", ttl, err)
	}
}

// TestTLSCertificateRotation replaces the member's certificate on disk; new
// connections get the new one without a restart.
func TestTLSCertificateRotation(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true})
	c := newClusterTLS(t, 1, sec)
	addr := c.members[0].client
	cn := func() string {
		t.Helper()
		cfg, err := tlsutil.Info{TrustedCAFile: sec.server.CA}.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg.NextProtos = []string{"h2"}
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "member" {
		t.Fatalf("first certificate's CN %q", got)
	}
	next, err := sec.ca.WriteFiles(t.TempDir(), "server", "member-rotated", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{next.Key, sec.server.Key}, {next.Cert, sec.server.Cert}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1]+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p[1]+".new", p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if got := cn(); got != "member-rotated" {
		t.Fatalf("after rotation the member presents CN %q", got)
	}
	ctl(t, httpsEps(c), "", "--cacert="+sec.server.CA, "put", "rotated", "yes")
}

// TestTLSAuto: --auto-tls serves https with a self-signed certificate that
// etcdctl accepts only when told to skip verification.
func TestTLSAuto(t *testing.T) {
	c := newClusterTLS(t, 1, &clusterTLS{clientHTTPS: true, extra: []string{"--auto-tls"}})
	eps := httpsEps(c)
	ctl(t, eps, "", "--insecure-skip-tls-verify", "put", "auto", "tls")
	ctlFails(t, eps, "certificate", "get", "auto")
	if _, err := os.Stat(filepath.Join(c.members[0].dataDir, "fixtures", "client", "cert.pem")); err != nil {
		t.Fatalf("auto-tls certificate not kept under the data dir: %v", err)
	}
}

// TestTLSBadFilesRefusedAtStart: the process exits at once, naming the file.
func TestTLSBadFilesRefusedAtStart(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{})
	other, err := sec.ca.WriteFiles(t.TempDir(), "other", "other", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.crt")
	if err := os.WriteFile(garbage, []byte("----- nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.crt")
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"missing cert", []string{"--cert-file=" + missing, "--key-file=" + sec.server.Key}, missing},
		{"garbage cert", []string{"--cert-file=" + garbage, "--key-file=" + sec.server.Key}, garbage},
		{"mismatched key", []string{"--cert-file=" + sec.server.Cert, "--key-file=" + other.Key}, other.Key},
		{"missing CA", []string{"--cert-file=" + sec.server.Cert, "--key-file=" + sec.server.Key,
			"--trusted-ca-file=" + missing, "--client-cert-auth"}, missing},
		{"garbage peer CA", []string{"--peer-cert-file=" + sec.server.Cert, "--peer-key-file=" + sec.server.Key,
			"--peer-trusted-ca-file=" + garbage}, garbage},
	} {
		ports := freePorts(t, 2)
		args := append([]string{
			"--data-dir=" + t.TempDir(),
			"--listen-client-urls=https://127.0.0.1:" + strconv.Itoa(ports[0]),
			"--listen-peer-urls=http://127.0.0.1:" + strconv.Itoa(ports[1]),
			"--listen-metrics-urls=",
			"--cert-file=" + sec.server.Cert, "--key-file=" + sec.server.Key,
		}, tc.flags...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, metastoreBin, args...).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Fatalf("%s: metastore did not refuse to start (err %v):\n%s", tc.name, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("%s: the error does not name %s:\n%s", tc.name, tc.want, out)
		}
	}
}
