package transport

import (
	"fmt"
	"net"
	"net/url"
)

// target is where a peer is dialed: a gRPC target, with TLS or without.
type target struct {
	addr     string // gRPC target
	hostPort string // TCP address, for the direct stream
	tls      bool
}

func parseTarget(peerURL string) (target, error) {
	addr, err := Target(peerURL)
	if err != nil {
		return target{}, err
	}
	u, _ := url.Parse(peerURL)
	return target{addr: addr, hostPort: u.Host, tls: u.Scheme == "https"}, nil
}

// Target turns a peer URL such as "http://10.0.0.1:2380" or
// "https://10.0.0.1:2380" into the gRPC dial target "dns:///10.0.0.1:2380".
// Only http and https URLs with an explicit host and port are accepted; any
// path, query or user part is an error.
func Target(peerURL string) (string, error) {
	u, err := url.Parse(peerURL)
	if err != nil {
		return "", fmt.Errorf("transport: peer URL %q: %w", peerURL, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return "", fmt.Errorf("transport: peer URL %q: scheme must be http or https", peerURL)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("transport: peer URL %q: want only scheme://host:port", peerURL)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("transport: peer URL %q: want host:port", peerURL)
	}
	return "dns:///" + net.JoinHostPort(host, port), nil
}
