package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// stamp identifies one version of a file on disk.
type stamp struct {
	size  int64
	mtime time.Time
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.Size(), fi.ModTime()}, nil
}

// keyPair is a certificate and key read from two files, read again when
// either changes.
type keyPair struct {
	certFile, keyFile string
	onErr             func(string, error)

	mu       sync.Mutex
	certAt   stamp
	keyAt    stamp
	cert     *tls.Certificate
	lastFail stamp // the cert file version that last failed, reported once
}

func loadKeyPair(certFile, keyFile string, onErr func(string, error)) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, onErr: onErr}
	if err := k.reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// reload reads both files; errors name the file at fault.
func (k *keyPair) reload() error {
	certAt, err := statFile(k.certFile)
	if err != nil {
		return fmt.Errorf("certificate file %s: %w", k.certFile, err)
	}
	keyAt, err := statFile(k.keyFile)
	if err != nil {
		return fmt.Errorf("key file %s: %w", k.keyFile, err)
	}
	certPEM, err := os.ReadFile(k.certFile)
	if err != nil {
		return fmt.Errorf("certificate file %s: %w", k.certFile, err)
	}
	keyPEM, err := os.ReadFile(k.keyFile)
	if err != nil {
		return fmt.Errorf("key file %s: %w", k.keyFile, err)
	}
	if _, err := parseCerts(certPEM); err != nil {
		return fmt.Errorf("certificate file %s: %w", k.certFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("key file %s does not match certificate file %s: %w", k.keyFile, k.certFile, err)
	}
	k.certAt, k.keyAt, k.cert = certAt, keyAt, &cert
	return nil
}

// get returns the current pair, reloading it first if a file changed. A
// failed reload keeps the previous pair (a rotation may be half written).
func (k *keyPair) get() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	certAt, err1 := statFile(k.certFile)
	keyAt, err2 := statFile(k.keyFile)
	if err1 == nil && err2 == nil && (certAt != k.certAt || keyAt != k.keyAt) {
		if err := k.reload(); err != nil && k.onErr != nil && k.lastFail != certAt {
			k.lastFail = certAt
			k.onErr(k.certFile, err)
		}
	}
	return k.cert
}

// caPool is a CA bundle file, read again when it changes.
type caPool struct {
	path  string
	onErr func(string, error)

	mu   sync.Mutex
	at   stamp
	pool *x509.CertPool
}

func loadCAPool(path string, onErr func(string, error)) (*caPool, error) {
	c := &caPool{path: path, onErr: onErr}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *caPool) reload() error {
	at, err := statFile(c.path)
	if err != nil {
		return fmt.Errorf("trusted CA file %s: %w", c.path, err)
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("trusted CA file %s: %w", c.path, err)
	}
	certs, err := parseCerts(b)
	if err != nil {
		return fmt.Errorf("trusted CA file %s: %w", c.path, err)
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	c.at, c.pool = at, pool
	return nil
}

func (c *caPool) get() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, err := statFile(c.path); err == nil && at != c.at {
		if err := c.reload(); err != nil && c.onErr != nil {
			c.onErr(c.path, err)
			c.at = at // report a bad version once
		}
	}
	return c.pool
}
