// Package tlsutil builds the TLS configurations of a MetaStore member from
// etcd's flags (--cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth, --auto-tls, --cipher-suites, --tls-min-version,
// --tls-max-version and their --peer-* twins).
//
// # Usage
//
//	info := tlsutil.Info{CertFile: "server.crt", KeyFile: "server.key"}
//	srv, err := info.ServerConfig()  // every named file is read and checked now
//	l = tls.NewListener(l, srv)       // https:// listeners
//	cli, err := info.ClientConfig()  // dialing peers or other members
//
// Certificates, keys and CA bundles are read again when their files change
// on disk (size or modification time), at the next handshake, so a rotated
// certificate takes effect without a restart. A file that cannot be read or
// parsed at start is an error naming the file; a bad file found later keeps
// the previous contents in use and is reported through Info.OnReloadError.
//
// ServerCredentials lets one gRPC server accept both plain connections and
// connections that a tls.Listener (or a protocol router above it) has
// already handshaken, and still see the client certificate of the latter.
package tlsutil
