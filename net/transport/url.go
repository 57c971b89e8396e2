package transport

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrTLSUnsupported is returned for https peer URLs: TLS between peers is not
// built yet.
var ErrTLSUnsupported = errors.New("transport: https peer URLs are not supported yet")

// Target turns a peer URL such as "http://10.0.0.1:2380" into the gRPC dial
// target "dns:///10.0.0.1:2380". Only http URLs with an explicit host and port
// are accepted; any path, query or user part is an error.
func Target(peerURL string) (string, error) {
	u, err := url.Parse(peerURL)
	if err != nil {
		return "", fmt.Errorf("transport: peer URL %q: %w", peerURL, err)
	}
	switch u.Scheme {
	case "http":
	case "https":
		return "", fmt.Errorf("%w: %q", ErrTLSUnsupported, peerURL)
	default:
		return "", fmt.Errorf("transport: peer URL %q: scheme must be http", peerURL)
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
