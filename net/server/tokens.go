package server

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"metastore/core/auth"
)

// Tokens issues and checks auth tokens: etcd's --auth-token "simple" (an
// opaque string assigned through raft, forgotten after --auth-token-ttl
// without use) or "jwt,pub-key=...,priv-key=...,sign-method=...,ttl=..."
// (signed claims any member verifies alone).
type Tokens struct {
	simpleTTL time.Duration

	// JWT, when set.
	method jwt.SigningMethod
	sign   crypto.PrivateKey // nil: verify only
	verify crypto.PublicKey
	jwtTTL time.Duration

	mu       sync.Mutex
	lastUsed map[string]time.Time // simple tokens this member has seen
}

// ParseAuthToken reads --auth-token and --auth-token-ttl. Key files are
// read now, so a bad one stops the start with its name.
func ParseAuthToken(opts string, simpleTTL time.Duration) (*Tokens, error) {
	t := &Tokens{simpleTTL: simpleTTL, lastUsed: map[string]time.Time{}}
	parts := strings.Split(opts, ",")
	switch parts[0] {
	case "simple", "":
		if len(parts) > 1 {
			return nil, fmt.Errorf("--auth-token=simple takes no options")
		}
		return t, nil
	case "jwt":
	default:
		return nil, fmt.Errorf("--auth-token=%q: want simple or jwt,...", opts)
	}
	kv := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || kv[k] != "" {
			return nil, fmt.Errorf("--auth-token: bad or repeated option %q", p)
		}
		kv[k] = v
	}
	t.method = jwt.GetSigningMethod(kv["sign-method"])
	if t.method == nil {
		return nil, fmt.Errorf("--auth-token: sign-method=%q unknown (RS256, PS256, ES256, EdDSA, ...)", kv["sign-method"])
	}
	t.jwtTTL = 5 * time.Minute
	if s := kv["ttl"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--auth-token: ttl=%q: want a positive duration", s)
		}
		t.jwtTTL = d
	}
	if kv["pub-key"] == "" {
		return nil, fmt.Errorf("--auth-token: jwt needs pub-key=FILE")
	}
	pub, err := os.ReadFile(kv["pub-key"])
	if err != nil {
		return nil, fmt.Errorf("--auth-token: pub-key: %w", err)
	}
	if t.verify, err = parsePublic(t.method, pub); err != nil {
		return nil, fmt.Errorf("--auth-token: pub-key %s: %w", kv["pub-key"], err)
	}
	if f := kv["priv-key"]; f != "" {
		priv, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--auth-token: priv-key: %w", err)
		}
		if t.sign, err = parsePrivate(t.method, priv); err != nil {
			return nil, fmt.Errorf("--auth-token: priv-key %s: %w", f, err)
		}
	}
	return t, nil
}

func parsePublic(m jwt.SigningMethod, b []byte) (crypto.PublicKey, error) {
	switch m.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		return jwt.ParseRSAPublicKeyFromPEM(b)
	case *jwt.SigningMethodECDSA:
		return jwt.ParseECPublicKeyFromPEM(b)
	case *jwt.SigningMethodEd25519:
		return jwt.ParseEdPublicKeyFromPEM(b)
	}
	return nil, fmt.Errorf("unsupported sign-method %s", m.Alg())
}

func parsePrivate(m jwt.SigningMethod, b []byte) (crypto.PrivateKey, error) {
	switch m.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		return jwt.ParseRSAPrivateKeyFromPEM(b)
	case *jwt.SigningMethodECDSA:
		return jwt.ParseECPrivateKeyFromPEM(b)
	case *jwt.SigningMethodEd25519:
		return jwt.ParseEdPrivateKeyFromPEM(b)
	}
	return nil, fmt.Errorf("unsupported sign-method %s", m.Alg())
}

// JWT reports whether tokens are JWTs.
func (t *Tokens) JWT() bool { return t.method != nil }

// simplePrefix is the random part of a simple token; apply appends the
// raft index, so two members never hand out the same token.
func simplePrefix() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

var errVerifyOnly = errors.New("auth: token signing attempted with verify-only key")

// signJWT issues a token for user at auth revision rev.
func (t *Tokens) signJWT(user string, rev uint64) (string, error) {
	if t.sign == nil {
		return "", errVerifyOnly
	}
	return jwt.NewWithClaims(t.method, jwt.MapClaims{
		"username": user,
		"revision": rev,
		"exp":      time.Now().Add(t.jwtTTL).Unix(),
	}).SignedString(t.sign)
}

// parseJWT verifies a token's signature and expiry.
func (t *Tokens) parseJWT(tok string) (user string, rev uint64, err error) {
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return t.verify, nil },
		jwt.WithValidMethods([]string{t.method.Alg()}), jwt.WithExpirationRequired())
	if err != nil {
		return "", 0, auth.ErrInvalidAuthToken
	}
	u, ok1 := claims["username"].(string)
	r, ok2 := claims["revision"].(float64)
	if !ok1 || !ok2 || u == "" {
		return "", 0, auth.ErrInvalidAuthToken
	}
	return u, uint64(r), nil
}

// touchSimple records a use of a simple token and reports whether it had
// been idle past the TTL on this member (then it is dead).
func (t *Tokens) touchSimple(tok string, now time.Time) (expired bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.lastUsed[tok]; ok && now.Sub(last) > t.simpleTTL {
		delete(t.lastUsed, tok)
		return true
	}
	// NB: entries are never pruned by age: a pruned token would look new
	// and live again. They are bounded by the tokens the cluster issues.
	t.lastUsed[tok] = now
	return false
}
