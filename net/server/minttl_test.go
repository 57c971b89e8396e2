package server

import (
	"testing"
	"time"
)

// Short leases are raised to MinLeaseTTL (whole seconds, rounded up), as
// etcd raises them to 1.5 election timeouts; the raised TTL is what the
// grant answers and what is recorded.
func TestLeaseGrantRaisedToMinTTL(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.MinLeaseTTL = 2500 * time.Millisecond })
	ctx := ctxT(t)
	for _, ttl := range []int64{-5, 0, 1, 3} {
		g, err := m.cli.Grant(ctx, ttl)
		if err != nil {
			t.Fatalf("grant %d: %v", ttl, err)
		}
		want := max(ttl, 3)
		if g.TTL != want {
			t.Fatalf("grant %d: TTL %d, want %d", ttl, g.TTL, want)
		}
		tl, err := m.cli.TimeToLive(ctx, g.ID)
		if err != nil || tl.GrantedTTL != want {
			t.Fatalf("grant %d: timetolive = %+v, %v; want granted %d", ttl, tl, err, want)
		}
	}
}
