package config

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// TestSecurityFromYAMLAndFlags: etcd's config-file keys for TLS read as
// etcd writes them, and the flags override them.
func TestSecurityFromYAMLAndFlags(t *testing.T) {
	path := writeFile(t, `
listen-client-urls: https://127.0.0.1:12379
listen-peer-urls: https://127.0.0.1:12380
client-transport-security:
  cert-file: /etc/s.crt
  key-file: /etc/s.key
  trusted-ca-file: /etc/ca.crt
  client-cert-auth: true
peer-transport-security:
  auto-tls: true
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
tls-min-version: TLS1.2
auth-token: jwt,pub-key=a.pub,priv-key=a.key,sign-method=RS256
bcrypt-cost: 4
`)
	c, err := fromArgs(t, "--config-file", path, "--key-file=/etc/other.key", "--tls-max-version=TLS1.3")
	if err != nil {
		t.Fatal(err)
	}
	ci, pi := c.ClientTLS(), c.PeerTLS()
	if ci.CertFile != "/etc/s.crt" || ci.KeyFile != "/etc/other.key" || ci.TrustedCAFile != "/etc/ca.crt" || !ci.ClientCertAuth {
		t.Fatalf("client TLS %+v", ci)
	}
	if !pi.AutoTLS || pi.CertFile != "" || len(pi.CipherSuites) != 1 || pi.MinVersion != "TLS1.2" || pi.MaxVersion != "TLS1.3" {
		t.Fatalf("peer TLS %+v", pi)
	}
	if c.BcryptCost != 4 || !strings.HasPrefix(c.AuthToken, "jwt,") || c.AuthTokenTTL != 300 {
		t.Fatalf("auth settings %q %d %d", c.AuthToken, c.BcryptCost, c.AuthTokenTTL)
	}
	// Flags alone, etcd's spelling.
	c, err = fromArgs(t, "--listen-client-urls=https://127.0.0.1:2379", "--auto-tls",
		"--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
	if err != nil {
		t.Fatal(err)
	}
	if !c.ClientTransportSecurity.AutoTLS || len(c.CipherSuites) != 2 {
		t.Fatalf("flags: %+v %v", c.ClientTransportSecurity, c.CipherSuites)
	}
}

func TestHelpTeachesSecurityFlags(t *testing.T) {
	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	RegisterFlags(fs, Default())
	fs.PrintDefaults()
	for _, name := range []string{"cert-file", "key-file", "trusted-ca-file", "client-cert-auth", "auto-tls",
		"peer-cert-file", "peer-key-file", "peer-trusted-ca-file", "peer-client-cert-auth", "peer-auto-tls",
		"cipher-suites", "tls-min-version", "tls-max-version", "auth-token", "auth-token-ttl", "bcrypt-cost"} {
		if !strings.Contains(out.String(), "-"+name+" ") && !strings.Contains(out.String(), "-"+name+"\n") {
			t.Errorf("--help does not describe --%s", name)
		}
	}
}
