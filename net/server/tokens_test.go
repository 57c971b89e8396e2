package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metastore/core/auth"
)

// jwtKeys writes an ES256 key pair and returns the two paths.
func jwtKeys(t *testing.T) (pub, priv string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	pder, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestParseAuthTokenRefusesBadOptions(t *testing.T) {
	pub, priv := jwtKeys(t)
	missing := filepath.Join(t.TempDir(), "nope.pub")
	for _, c := range []struct{ opts, want string }{
		{"magic", "want simple or jwt"},
		{"simple,ttl=1s", "no options"},
		{"jwt,pub-key=" + pub + ",sign-method=XX1", "sign-method"},
		{"jwt,sign-method=ES256", "pub-key"},
		{"jwt,pub-key=" + missing + ",sign-method=ES256", missing},
		{"jwt,pub-key=" + priv + ",sign-method=ES256", priv}, // a private key is no public key
		{"jwt,pub-key=" + pub + ",sign-method=RS256", pub},   // an EC key for an RSA method
		{"jwt,pub-key=" + pub + ",sign-method=ES256,ttl=x", "ttl"},
		{"jwt,pub-key=" + pub + ",pub-key=" + pub + ",sign-method=ES256", "repeated"},
	} {
		if _, err := ParseAuthToken(c.opts, time.Minute); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one mentioning %q", c.opts, err, c.want)
		}
	}
}

func TestJWTRoundTripAndForgery(t *testing.T) {
	pub, priv := jwtKeys(t)
	tk, err := ParseAuthToken("jwt,pub-key="+pub+",priv-key="+priv+",sign-method=ES256,ttl=1m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tk.signJWT("alice", 7)
	if err != nil {
		t.Fatal(err)
	}
	if u, rev, err := tk.parseJWT(tok); err != nil || u != "alice" || rev != 7 {
		t.Fatalf("parse: %q %d %v", u, rev, err)
	}
	// Another key pair's token, and a tampered one, are refused.
	opub, opriv := jwtKeys(t)
	other, _ := ParseAuthToken("jwt,pub-key="+opub+",priv-key="+opriv+",sign-method=ES256", time.Minute)
	forged, _ := other.signJWT("root", 7)
	for _, bad := range []string{forged, tok[:len(tok)-3] + "abc", "not.a.jwt"} {
		if _, _, err := tk.parseJWT(bad); !errors.Is(err, auth.ErrInvalidAuthToken) {
			t.Errorf("token %q: err %v", bad, err)
		}
	}
	// Verify-only: no private key, no signing.
	vo, _ := ParseAuthToken("jwt,pub-key="+pub+",sign-method=ES256", time.Minute)
	if _, err := vo.signJWT("alice", 1); err == nil {
		t.Fatal("a verify-only provider signed a token")
	}
}

func TestSimpleTokenIdleTTL(t *testing.T) {
	tk, _ := ParseAuthToken("simple", time.Minute)
	now := time.Unix(1000, 0)
	if tk.touchSimple("t", now) || tk.touchSimple("t", now.Add(50*time.Second)) || tk.touchSimple("t", now.Add(100*time.Second)) {
		t.Fatal("a token used within its TTL expired")
	}
	if !tk.touchSimple("t", now.Add(161*time.Second)) {
		t.Fatal("a token idle past its TTL is still alive")
	}
}
