package server

import (
	"context"
	"fmt"
	"net/url"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// mdForwarded marks a request a follower forwarded to the leader; the
// receiver answers it itself and never forwards it again.
const mdForwarded = "metastore-forwarded"

// forwarder holds gRPC connections to other members' client URLs, for the
// calls only the leader can answer (lease keep-alive and time-to-live).
type forwarder struct {
	s     *Server
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by dial target
}

func newForwarder(s *Server) *forwarder {
	return &forwarder{s: s, conns: make(map[string]*grpc.ClientConn)}
}

func isForwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(mdForwarded)) > 0
}

// forwardedContext marks a call as forwarded and carries the caller's auth
// token, so the leader checks the same user.
func forwardedContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(withCallerToken(ctx), mdForwarded, "1")
}

// leader returns the leader's ID and a connection to its first client URL.
// It fails with etcd's "no leader" when the leader is unknown or has not
// published its client URLs yet.
func (f *forwarder) leader() (uint64, *grpc.ClientConn, error) {
	lead := f.s.node.Status().Leader
	if lead == 0 {
		return 0, nil, rpctypes.ErrGRPCNoLeader
	}
	for _, m := range f.s.members.snapshot() {
		if m.ID != lead || len(m.Attr.ClientURLs) == 0 {
			continue
		}
		c, err := f.conn(m.Attr.ClientURLs[0])
		return lead, c, err
	}
	return 0, nil, rpctypes.ErrGRPCNoLeader
}

// conn returns a connection to the member serving clientURL, with TLS
// when the URL is https.
func (f *forwarder) conn(clientURL string) (*grpc.ClientConn, error) {
	target, secure, err := clientTarget(clientURL)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if secure {
		if f.s.cfg.DialTLS == nil {
			return nil, fmt.Errorf("server: client URL %q is https but no client TLS is configured", clientURL)
		}
		creds = credentials.NewTLS(f.s.cfg.DialTLS)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conns[target]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	f.conns[target] = c
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t, c := range f.conns {
		c.Close()
		delete(f.conns, t)
	}
}

// clientTarget turns "http://host:port", "https://host:port" (or a bare
// host:port) into a gRPC dial target, and tells whether it needs TLS.
func clientTarget(u string) (target string, secure bool, err error) {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", false, fmt.Errorf("server: bad client URL %q", u)
	}
	switch p.Scheme {
	case "http", "":
	case "https":
		secure = true
	case "unix":
		return "unix:" + p.Host + p.Path, false, nil
	case "unixs":
		return "unix:" + p.Host + p.Path, true, nil
	default:
		return "", false, fmt.Errorf("server: client URL %q: want http or https", u)
	}
	return "dns:///" + p.Host, secure, nil
}
