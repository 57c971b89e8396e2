package config

import (
	"flag"
	"fmt"
	"net/url"
	"strings"

	"metastore/net/tlsutil"
)

// SecurityConfig is one side's TLS (YAML client-transport-security: and
// peer-transport-security:, as etcd's config file has them).
type SecurityConfig struct {
	CertFile       string `yaml:"cert-file"`
	KeyFile        string `yaml:"key-file"`
	TrustedCAFile  string `yaml:"trusted-ca-file"`
	ClientCertAuth bool   `yaml:"client-cert-auth"`
	AutoTLS        bool   `yaml:"auto-tls"`
}

// list is a comma-separated string list flag (--cipher-suites).
type list struct{ p *[]string }

func (l list) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l list) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// registerSecurityFlags defines the TLS and authentication flags, etcd's
// names and defaults.
func registerSecurityFlags(fs *flag.FlagSet, cfg *Config) {
	side := func(prefix, who string, s *SecurityConfig) {
		fs.StringVar(&s.CertFile, prefix+"cert-file", s.CertFile,
			"PEM certificate `file` presented to "+who+" on https:// URLs (re-read when it changes on disk)")
		fs.StringVar(&s.KeyFile, prefix+"key-file", s.KeyFile,
			"PEM private key `file` of --"+prefix+"cert-file")
		fs.StringVar(&s.TrustedCAFile, prefix+"trusted-ca-file", s.TrustedCAFile,
			"PEM CA bundle `file` that verifies "+who+"' certificates (with --"+prefix+"client-cert-auth)")
		cnNote := ""
		if prefix == "" {
			cnNote = "; with auth enabled, the certificate's common name logs in as that user"
		}
		fs.BoolVar(&s.ClientCertAuth, prefix+"client-cert-auth", s.ClientCertAuth,
			"refuse "+who+" without a certificate signed by --"+prefix+"trusted-ca-file"+cnNote)
		fs.BoolVar(&s.AutoTLS, prefix+"auto-tls", s.AutoTLS,
			"without --"+prefix+"cert-file, serve https:// with a generated self-signed certificate (kept under --data-dir)")
	}
	side("", "clients", &cfg.ClientTransportSecurity)
	side("peer-", "peers", &cfg.PeerTransportSecurity)
	fs.Var(list{&cfg.CipherSuites}, "cipher-suites",
		"comma-separated `list` of TLS cipher suites (IANA names) for clients and peers; empty: Go's defaults")
	fs.StringVar(&cfg.TLSMinVersion, "tls-min-version", cfg.TLSMinVersion,
		"oldest TLS `version` accepted: TLS1.2 or TLS1.3")
	fs.StringVar(&cfg.TLSMaxVersion, "tls-max-version", cfg.TLSMaxVersion,
		"newest TLS `version` accepted: TLS1.2 or TLS1.3 (empty: the newest Go supports)")

	fs.StringVar(&cfg.AuthToken, "auth-token", cfg.AuthToken,
		"`kind` of auth tokens: simple, or jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256|ES256|...[,ttl=5m]")
	fs.UintVar(&cfg.AuthTokenTTL, "auth-token-ttl", cfg.AuthTokenTTL,
		"`seconds` a simple token lives without use")
	fs.IntVar(&cfg.BcryptCost, "bcrypt-cost", cfg.BcryptCost,
		"bcrypt `cost` of stored password hashes (4-31)")
}

// ClientTLS is the client side's tlsutil.Info.
func (c *Config) ClientTLS() tlsutil.Info { return c.tlsInfo(c.ClientTransportSecurity) }

// PeerTLS is the peer side's tlsutil.Info.
func (c *Config) PeerTLS() tlsutil.Info { return c.tlsInfo(c.PeerTransportSecurity) }

func (c *Config) tlsInfo(s SecurityConfig) tlsutil.Info {
	return tlsutil.Info{
		CertFile:       s.CertFile,
		KeyFile:        s.KeyFile,
		TrustedCAFile:  s.TrustedCAFile,
		ClientCertAuth: s.ClientCertAuth,
		AutoTLS:        s.AutoTLS,
		CipherSuites:   c.CipherSuites,
		MinVersion:     c.TLSMinVersion,
		MaxVersion:     c.TLSMaxVersion,
	}
}

// validateSecurity checks what can be checked without reading files; the
// files themselves are read (and a bad one named) when the server builds
// its TLS configurations.
func (c *Config) validateSecurity() []error {
	var errs []error
	check := func(prefix string, s SecurityConfig, lists map[string]URLs) {
		if (s.CertFile == "") != (s.KeyFile == "") {
			errs = append(errs, fmt.Errorf("--%scert-file and --%skey-file go together", prefix, prefix))
		}
		if s.ClientCertAuth && s.TrustedCAFile == "" && !s.AutoTLS {
			errs = append(errs, fmt.Errorf("--%sclient-cert-auth needs --%strusted-ca-file", prefix, prefix))
		}
		for _, name := range []string{"listen", "advertise"} {
			for _, u := range lists[name] {
				if p, err := url.Parse(u); err == nil && p.Scheme == "https" && s.CertFile == "" && !s.AutoTLS {
					errs = append(errs, fmt.Errorf("%q needs --%scert-file and --%skey-file, or --%sauto-tls", u, prefix, prefix, prefix))
				}
			}
		}
	}
	check("", c.ClientTransportSecurity, map[string]URLs{"listen": c.ListenClientURLs})
	check("peer-", c.PeerTransportSecurity, map[string]URLs{"listen": c.ListenPeerURLs})
	info := c.ClientTLS()
	info.CertFile, info.KeyFile, info.TrustedCAFile = "", "", ""
	if _, err := info.ClientConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		errs = append(errs, fmt.Errorf("--bcrypt-cost=%d: want 4 to 31", c.BcryptCost))
	}
	if c.AuthTokenTTL == 0 {
		errs = append(errs, fmt.Errorf("--auth-token-ttl must be positive"))
	}
	if kind, _, _ := strings.Cut(c.AuthToken, ","); kind != "simple" && kind != "jwt" {
		errs = append(errs, fmt.Errorf("--auth-token=%q: want simple or jwt,...", c.AuthToken))
	}
	return errs
}
