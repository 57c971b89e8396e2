package tlsutil

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metastore/net/tlsutil/tlstest"
)

func newCA(t *testing.T, name string) *tlstest.CA {
	t.Helper()
	ca, err := tlstest.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func files(t *testing.T, ca *tlstest.CA, dir, name, cn string, hosts ...string) tlstest.Files {
	t.Helper()
	f, err := ca.WriteFiles(dir, name, cn, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestServerConfigNamesTheBadFile: every broken input is refused at start
// with the path of the file at fault.
func TestServerConfigNamesTheBadFile(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	good := files(t, ca, dir, "server", "s", "127.0.0.1")
	other := files(t, ca, dir, "other", "o", "127.0.0.1")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name string
		info Info
		want string // a substring of the error
	}{
		{"missing cert", Info{CertFile: missing, KeyFile: good.Key}, missing},
		{"missing key", Info{CertFile: good.Cert, KeyFile: missing}, missing},
		{"garbage cert", Info{CertFile: garbage, KeyFile: good.Key}, garbage},
		{"garbage key", Info{CertFile: good.Cert, KeyFile: garbage}, garbage},
		{"mismatched key", Info{CertFile: good.Cert, KeyFile: other.Key}, other.Key},
		{"missing CA", Info{CertFile: good.Cert, KeyFile: good.Key, TrustedCAFile: missing}, missing},
		{"garbage CA", Info{CertFile: good.Cert, KeyFile: good.Key, TrustedCAFile: garbage}, garbage},
		{"client auth without CA", Info{CertFile: good.Cert, KeyFile: good.Key, ClientCertAuth: true}, "--trusted-ca-file"},
		{"bad version", Info{CertFile: good.Cert, KeyFile: good.Key, MinVersion: "TLS1.0"}, "--tls-min-version"},
		{"max below min", Info{CertFile: good.Cert, KeyFile: good.Key, MinVersion: "TLS1.3", MaxVersion: "TLS1.2"}, "--tls-max-version"},
		{"bad cipher", Info{CertFile: good.Cert, KeyFile: good.Key, CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}}, "TLS_RSA_WITH_RC4_128_SHA"},
		{"ciphers with 1.3", Info{CertFile: good.Cert, KeyFile: good.Key, MinVersion: "TLS1.3",
			CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, "TLS1.3"},
		{"no cert", Info{TrustedCAFile: good.CA}, "--cert-file"},
	}
	for _, c := range cases {
		_, err := c.info.ServerConfig()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one naming %q", c.name, err, c.want)
		}
	}
	if _, err := (Info{CertFile: good.Cert, KeyFile: good.Key, TrustedCAFile: good.CA, ClientCertAuth: true,
		CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}).ServerConfig(); err != nil {
		t.Fatalf("good files refused: %v", err)
	}
}

// serve accepts TLS connections on a loopback port with cfg and completes
// each handshake; it returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, cfg)
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if tc := c.(*tls.Conn); tc.Handshake() == nil {
					_, _ = tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// dial handshakes with addr and reads the server's greeting, returning the
// server's leaf certificate's common name.
func dial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// NB: in TLS 1.3 a refused client certificate shows on the first read.
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

func TestClientCertAuth(t *testing.T) {
	dir := t.TempDir()
	ca, rogue := newCA(t, "ca"), newCA(t, "rogue")
	srv := files(t, ca, dir, "server", "server", "127.0.0.1")
	cli := files(t, ca, dir, "client", "alice")
	bad := files(t, rogue, dir, "rogue", "mallory")
	scfg, err := Info{CertFile: srv.Cert, KeyFile: srv.Key, TrustedCAFile: srv.CA, ClientCertAuth: true}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, scfg)

	withCert, err := Info{CertFile: cli.Cert, KeyFile: cli.Key, TrustedCAFile: cli.CA}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cn, err := dial(addr, withCert); err != nil || cn != "server" {
		t.Fatalf("trusted client: %q %v", cn, err)
	}
	noCert, _ := Info{TrustedCAFile: cli.CA}.ClientConfig()
	if _, err := dial(addr, noCert); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	untrusted, _ := Info{CertFile: bad.Cert, KeyFile: bad.Key, TrustedCAFile: cli.CA}.ClientConfig()
	if _, err := dial(addr, untrusted); err == nil {
		t.Fatal("a client certificate from an untrusted CA was accepted")
	}
	// The client refuses a server its CA did not sign.
	rogueCA, _ := Info{CertFile: cli.Cert, KeyFile: cli.Key, TrustedCAFile: bad.CA}.ClientConfig()
	if _, err := dial(addr, rogueCA); err == nil {
		t.Fatal("the client trusted a server its CA did not sign")
	}
}

// TestCertificateReloadedOnChange replaces the server's files on disk and
// expects the next handshake to present the new certificate.
func TestCertificateReloadedOnChange(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	srv := files(t, ca, dir, "server", "first", "127.0.0.1")
	var reloadErrs []string
	scfg, err := Info{CertFile: srv.Cert, KeyFile: srv.Key,
		OnReloadError: func(p string, err error) { reloadErrs = append(reloadErrs, p) }}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, scfg)
	ccfg, _ := Info{TrustedCAFile: srv.CA}.ClientConfig()
	if cn, err := dial(addr, ccfg); err != nil || cn != "first" {
		t.Fatalf("before rotation: %q %v", cn, err)
	}
	// A fresh pair under the same names; the mtime may not move within the
	// file system's resolution, so the size differs (another CN length).
	next := files(t, ca, t.TempDir(), "server", "second-certificate", "127.0.0.1")
	for _, p := range [][2]string{{next.Key, srv.Key}, {next.Cert, srv.Cert}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cn, err := dial(addr, ccfg); err != nil || cn != "second-certificate" {
		t.Fatalf("after rotation: %q %v", cn, err)
	}
	// A broken rotation keeps the last good pair and is reported.
	if err := os.WriteFile(srv.Cert, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cn, err := dial(addr, ccfg); err != nil || cn != "second-certificate" {
		t.Fatalf("after a broken rotation: %q %v", cn, err)
	}
	if len(reloadErrs) != 1 || reloadErrs[0] != srv.Cert {
		t.Fatalf("reload errors reported: %v", reloadErrs)
	}
}

func TestSelfSignedIsKeptAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fixtures", "client")
	c1, k1, err := SelfSigned(dir, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(c1)
	c2, _, err := SelfSigned(dir, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(c2); string(b1) != string(b2) {
		t.Fatal("a second start replaced the existing certificate")
	}
	scfg, err := Info{CertFile: c1, KeyFile: k1}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, scfg)
	ccfg, _ := Info{AutoTLS: true}.ClientConfig()
	if _, err := dial(addr, ccfg); err != nil {
		t.Fatalf("auto-TLS client: %v", err)
	}
	strict, _ := Info{}.ClientConfig()
	if _, err := dial(addr, strict); err == nil {
		t.Fatal("a verifying client accepted a self-signed certificate")
	}
}

func TestParseCipherSuites(t *testing.T) {
	ids, err := ParseCipherSuites([]string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", " TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", ""})
	if err != nil || len(ids) != 1 || ids[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("ids %v err %v", ids, err)
	}
	if _, err := ParseCipherSuites([]string{"nope"}); err == nil {
		t.Fatal("unknown suite accepted")
	}
	if v, err := ParseVersion("TLS1.3"); err != nil || v != tls.VersionTLS13 {
		t.Fatal(v, err)
	}
	if _, err := ParseVersion("1.3"); err == nil {
		t.Fatal("bad version accepted")
	}
}

// TestClientTrustsARotatedCA: the dialing side re-reads its CA bundle too;
// a server whose certificate the new CA signed is accepted by the same
// configuration, and the old one no longer.
func TestClientTrustsARotatedCA(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := newCA(t, "one"), newCA(t, "two")
	s1 := files(t, ca1, dir, "s1", "s1", "127.0.0.1")
	s2 := files(t, ca2, dir, "s2", "s2", "127.0.0.1")
	trust := filepath.Join(dir, "trust.crt")
	if err := os.WriteFile(trust, ca1.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ccfg, err := Info{TrustedCAFile: trust}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg1, _ := Info{CertFile: s1.Cert, KeyFile: s1.Key}.ServerConfig()
	cfg2, _ := Info{CertFile: s2.Cert, KeyFile: s2.Key}.ServerConfig()
	addr1, addr2 := serve(t, cfg1), serve(t, cfg2)
	if _, err := dial(addr1, ccfg); err != nil {
		t.Fatalf("server of the trusted CA: %v", err)
	}
	if _, err := dial(addr2, ccfg); err == nil {
		t.Fatal("a server of an untrusted CA was accepted")
	}
	// A name the certificate does not carry is refused as well.
	named := ccfg.Clone()
	named.ServerName = "elsewhere.example"
	if _, err := dial(addr1, named); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
	if err := os.WriteFile(trust, append(ca2.CertPEM(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr2, ccfg); err != nil {
		t.Fatalf("after the CA rotation: %v", err)
	}
	if _, err := dial(addr1, ccfg); err == nil {
		t.Fatal("the retired CA is still trusted")
	}
}
