package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// ServerCredentials are gRPC transport credentials for listeners that do
// their own TLS (tls.NewListener, or a protocol router that hands over
// connections after the handshake). A *tls.Conn has its handshake finished
// and its state (the client certificate) exposed as credentials.TLSInfo;
// any other connection passes through as plaintext. One gRPC server can so
// serve http:// and https:// URLs at once.
func ServerCredentials() credentials.TransportCredentials { return serverCreds{} }

type serverCreds struct{}

func (serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return conn, nil, nil
	}
	if err := tc.HandshakeContext(context.Background()); err != nil {
		return nil, nil, err
	}
	return tc, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tlsutil: ServerCredentials cannot dial")
}

func (serverCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c serverCreds) Clone() credentials.TransportCredentials { return c }

func (serverCreds) OverrideServerName(string) error { return nil }
