package httpmux

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// setup serves a gRPC health service and an HTTP handler answering "hello
// <proto>" through one Mux on a loopback listener, wrapped by wrap.
func setup(t *testing.T, wrap func(net.Listener) net.Listener) (*Mux, string) {
	t.Helper()
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer())
	h := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Proto)
	})}
	m := New(g, h)
	m.Start(func(what string, err error) { t.Errorf("%s: %v", what, err) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- m.Serve(wrap(l)) }()
	t.Cleanup(func() {
		m.Close()
		g.Stop()
		h.Close()
		m.Wait()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, l.Addr().String()
}

func checkGRPC(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("gRPC health check: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health status %v", resp.Status)
	}
}

func checkHTTP(t *testing.T, c *http.Client, url, want string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != want {
		t.Fatalf("GET %s = %q, want %q", url, b, want)
	}
}

func TestPlainGRPCAndHTTP1(t *testing.T) {
	m, addr := setup(t, func(l net.Listener) net.Listener { return l })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	checkGRPC(t, conn)
	checkHTTP(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/", "hello HTTP/1.1")

	// The in-process path reaches the same gRPC server.
	conn, err = grpc.NewClient("passthrough:///local", grpc.WithContextDialer(m.DialGRPC),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	checkGRPC(t, conn)
}

// A request shorter than the HTTP/2 preface must not wait for more bytes.
func TestShortHTTP1Request(t *testing.T) {
	_, addr := setup(t, func(l net.Listener) net.Listener { return l })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "hello HTTP/1.0") {
		t.Fatalf("answer %q", b)
	}
}

func TestTLSGRPCAndHTTP(t *testing.T) {
	cert, pool := selfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	_, addr := setup(t, func(l net.Listener) net.Listener { return tls.NewListener(l, srvTLS) })

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	checkGRPC(t, conn)

	h1 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: false,
	}}
	checkHTTP(t, h1, "https://"+addr+"/", "hello HTTP/1.1")
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	checkHTTP(t, h2, "https://"+addr+"/", "hello HTTP/2.0")
}

func TestCloseEndsServe(t *testing.T) {
	m, addr := setup(t, func(l net.Listener) net.Listener { return l })
	// One answered request proves Serve has taken the listener: Close
	// before that would race with Serve's start, not test Close.
	checkHTTP(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/", "hello HTTP/1.1")
	m.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Close")
	}
	if _, err := m.DialGRPC(context.Background(), ""); err == nil {
		t.Fatal("DialGRPC succeeded after Close")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
