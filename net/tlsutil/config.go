package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// parseCerts decodes every CERTIFICATE block of a PEM bundle.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// ServerConfig is the configuration a listener serves with: the key pair
// (reloaded when its files change), and, with ClientCertAuth, client
// certificates required and verified against TrustedCAFile (also
// reloaded). Every file is read now; a missing, unparsable or mismatched
// one is an error naming it.
func (i Info) ServerConfig() (*tls.Config, error) {
	if !i.HasCert() {
		return nil, errors.New("serving TLS needs a certificate and a key (--cert-file and --key-file, or --auto-tls)")
	}
	minV, maxV, ciphers, err := i.versionsAndCiphers()
	if err != nil {
		return nil, err
	}
	kp, err := loadKeyPair(i.CertFile, i.KeyFile, i.OnReloadError)
	if err != nil {
		return nil, err
	}
	var cas *caPool
	if i.TrustedCAFile != "" {
		if cas, err = loadCAPool(i.TrustedCAFile, i.OnReloadError); err != nil {
			return nil, err
		}
	}
	if i.ClientCertAuth && cas == nil && !i.AutoTLS {
		return nil, errors.New("--client-cert-auth needs --trusted-ca-file to verify client certificates")
	}
	base := &tls.Config{
		MinVersion:   minV,
		MaxVersion:   maxV,
		CipherSuites: ciphers,
		// NB: h2 first for gRPC (which insists on ALPN); http/1.1 for
		// HTTP clients of the same port.
		NextProtos: []string{"h2", "http/1.1"},
	}
	if i.ClientCertAuth {
		base.ClientAuth = tls.RequireAndVerifyClientCert
		if cas == nil {
			// auto-TLS without a CA: certificates are self-signed and
			// cannot be verified, only required.
			base.ClientAuth = tls.RequireAnyClientCert
		}
	}
	// NB: without ClientCertAuth no certificate is asked for, even with a
	// CA, as in etcd: a common name never authenticates unasked.
	cfg := base.Clone()
	// Each handshake gets a configuration with the current files.
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		cert := kp.get()
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
		if cas != nil {
			c.ClientCAs = cas.get()
		}
		return c, nil
	}
	// Used only if GetConfigForClient is bypassed (it never is by crypto/tls).
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get(), nil }
	return cfg, nil
}

// ClientConfig is the configuration for dialing the other side: this
// side's key pair as the client certificate (if any, reloaded like the
// server's), servers verified against TrustedCAFile (the system roots when
// none), or not verified at all with AutoTLS and no CA.
func (i Info) ClientConfig() (*tls.Config, error) {
	minV, maxV, ciphers, err := i.versionsAndCiphers()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   minV,
		MaxVersion:   maxV,
		CipherSuites: ciphers,
		ServerName:   i.ServerName,
	}
	if i.HasCert() {
		kp, err := loadKeyPair(i.CertFile, i.KeyFile, i.OnReloadError)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get(), nil }
	}
	switch {
	case i.TrustedCAFile != "":
		cas, err := loadCAPool(i.TrustedCAFile, i.OnReloadError)
		if err != nil {
			return nil, err
		}
		// crypto/tls's own verification, but against the CA bundle as it
		// is on disk now (Go's documented VerifyConnection pattern), so a
		// rotated CA needs no restart on the dialing side either.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyServer(cs, cas.get()) }
	case i.AutoTLS:
		// Self-signed certificates on both sides: encryption without
		// authentication, as etcd's auto-TLS gives.
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// verifyServer checks the server's chain against roots and its name
// against the name dialed, as crypto/tls does by default.
func verifyServer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsutil: the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// Check reads every file Info names and reports the first problem, naming
// the file, without building anything.
func (i Info) Check() error {
	if i.HasCert() {
		if _, err := i.ServerConfig(); err != nil {
			return err
		}
		return nil
	}
	if i.CertFile != "" || i.KeyFile != "" {
		return fmt.Errorf("a certificate file needs its key file and the other way round (got cert %q, key %q)", i.CertFile, i.KeyFile)
	}
	_, err := i.ClientConfig()
	return err
}
