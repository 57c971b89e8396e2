package tlsutil

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// Info is one side's TLS settings (client-facing or peer), as etcd's flags
// give them.
type Info struct {
	CertFile      string // PEM certificate (chain) this side presents
	KeyFile       string // PEM private key of CertFile
	TrustedCAFile string // PEM CA bundle that verifies the other side's certificates
	// ClientCertAuth requires every connecting client to present a
	// certificate signed by TrustedCAFile.
	ClientCertAuth bool
	// AutoTLS: with no CertFile, generate a self-signed certificate (see
	// SelfSigned); dialers then skip verifying the other side.
	AutoTLS bool

	CipherSuites []string // IANA names; empty: Go's defaults
	MinVersion   string   // "TLS1.2" (default) or "TLS1.3"
	MaxVersion   string   // "" (newest), "TLS1.2" or "TLS1.3"

	// ServerName, for ClientConfig, overrides the name verified in the
	// server's certificate (default: the host dialed).
	ServerName string

	// OnReloadError is told about a changed file that could not be loaded
	// (the previous contents stay in use). Nil: ignored.
	OnReloadError func(path string, err error)
}

// Empty reports whether no TLS setting is given.
func (i Info) Empty() bool {
	return i.CertFile == "" && i.KeyFile == "" && i.TrustedCAFile == "" && !i.ClientCertAuth && !i.AutoTLS
}

// HasCert reports whether this side can serve TLS: a key pair is named.
func (i Info) HasCert() bool { return i.CertFile != "" && i.KeyFile != "" }

var versions = map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}

// ParseVersion maps etcd's version names ("TLS1.2", "TLS1.3") to crypto/tls
// constants; "" is 0 (crypto/tls's default).
func ParseVersion(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	v, ok := versions[s]
	if !ok {
		return 0, fmt.Errorf("unknown TLS version %q: want TLS1.2 or TLS1.3", s)
	}
	return v, nil
}

// ParseCipherSuites maps IANA cipher suite names to their IDs; insecure
// suites are refused, as are suites that TLS 1.3 does not let you choose.
func ParseCipherSuites(names []string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	var ids []uint16
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("unknown or insecure cipher suite %q", n)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// check validates the version and cipher settings together.
func (i Info) versionsAndCiphers() (minV, maxV uint16, ciphers []uint16, err error) {
	if minV, err = ParseVersion(i.MinVersion); err != nil {
		return 0, 0, nil, fmt.Errorf("--tls-min-version: %w", err)
	}
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	if maxV, err = ParseVersion(i.MaxVersion); err != nil {
		return 0, 0, nil, fmt.Errorf("--tls-max-version: %w", err)
	}
	if maxV != 0 && maxV < minV {
		return 0, 0, nil, fmt.Errorf("--tls-max-version %s is below --tls-min-version %s", i.MaxVersion, i.MinVersion)
	}
	if ciphers, err = ParseCipherSuites(i.CipherSuites); err != nil {
		return 0, 0, nil, fmt.Errorf("--cipher-suites: %w", err)
	}
	if len(ciphers) > 0 && minV == tls.VersionTLS13 {
		// NB: TLS 1.3's suites are fixed by crypto/tls; etcd refuses the
		// combination rather than silently ignore the list.
		return 0, 0, nil, fmt.Errorf("--cipher-suites cannot be used with --tls-min-version=TLS1.3")
	}
	return minV, maxV, ciphers, nil
}
