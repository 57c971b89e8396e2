package sim

import (
	"fmt"
	"math/rand/v2"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
	"metastore/core/auth"
)

// leaseClient exercises leases: grant a short lease, attach a key, keep it
// alive a few times through the leader, then revoke it or walk away and
// let it expire. What it checks:
//   - a revoke that was acknowledged at revision R deleted the key at a
//     revision <= R;
//   - after all faults heal, every lease left behind expires (the leader's
//     clock and checkpoints keep working across leader changes).
type leaseClient struct {
	s   *Sim
	rng *rand.Rand
	// revoked records acknowledged revokes of leases whose key put was
	// acknowledged: key -> revoke revision.
	revoked map[string]int64
	granted int
}

const leaseTTLMax = 3 // seconds

func (c *leaseClient) start() { c.s.world.After(c.rng.Int64N(Second), c.grant) }

func (c *leaseClient) node() *node { return c.s.drv.nodes[c.s.drv.ids[c.rng.IntN(len(c.s.drv.ids))]] }

// request sends one request and retries nothing: a lost answer ends the
// lease's story (it expires).
func (c *leaseClient) request(send func(r *core.Replica, cb core.Callback), next func(core.Result)) {
	answered := false
	c.s.call(c.node(), send, func(res core.Result, ok bool) {
		if !ok || answered {
			return
		}
		answered = true
		next(res)
	})
	c.s.world.After(requestTimeout, func() {
		if !answered {
			answered = true
			next(core.Result{Err: fmt.Errorf("timeout")})
		}
	})
}

func (c *leaseClient) again() {
	c.s.world.After(c.rng.Int64N(500*Millisecond)+1, c.grant)
}

func (c *leaseClient) grant() {
	if c.s.world.Now >= c.s.safetyEnd {
		return
	}
	ttl := 1 + c.rng.Int64N(leaseTTLMax)
	c.request(func(r *core.Replica, cb core.Callback) {
		r.Propose(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: ttl}}, cb)
	}, func(res core.Result) {
		if res.Err != nil {
			c.again()
			return
		}
		c.granted++
		c.s.count("lease_granted")
		id := res.Resp.(*pb.LeaseGrantResponse).ID
		key := fmt.Sprintf("%s%x", leaseKeyPrefix, id)
		c.request(func(r *core.Replica, cb core.Callback) {
			req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("held"), Lease: id}}
			if c.s.auth != nil {
				asUser(r, auth.RootUser, req)
			}
			r.Propose(req, cb)
		}, func(res core.Result) {
			c.keepAlive(id, key, res.Err == nil, ttl, 1+c.rng.IntN(4))
		})
	})
}

// keepAlive renews the lease left more times, then revokes or abandons it.
func (c *leaseClient) keepAlive(id int64, key string, putAcked bool, ttl int64, left int) {
	if left == 0 || c.s.world.Now >= c.s.safetyEnd {
		if c.rng.IntN(2) == 0 {
			c.revoke(id, key, putAcked)
			return
		}
		c.s.count("lease_abandoned")
		c.again()
		return
	}
	c.s.world.After(ttl*Second/3, func() {
		c.request(func(r *core.Replica, cb core.Callback) { r.LeaseKeepAlive(id, cb) }, func(res core.Result) {
			if res.Err == nil {
				c.s.count("lease_keepalive")
			}
			c.keepAlive(id, key, putAcked, ttl, left-1)
		})
	})
}

func (c *leaseClient) revoke(id int64, key string, putAcked bool) {
	c.request(func(r *core.Replica, cb core.Callback) {
		r.Propose(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}, cb)
	}, func(res core.Result) {
		if res.Err == nil {
			c.s.count("lease_revoked")
			if putAcked {
				c.revoked[key] = res.Resp.(*pb.LeaseRevokeResponse).GetHeader().GetRevision()
			}
		}
		c.again()
	})
}

// check verifies acknowledged revokes against the applied log.
func (c *leaseClient) check() {
	deletedAt := map[string]int64{}
	for rev, rec := range c.s.revLog {
		for _, w := range rec.writes {
			if w.Delete {
				if prev, ok := deletedAt[w.Key]; !ok || rev < prev {
					deletedAt[w.Key] = rev
				}
			}
		}
	}
	keys := make([]string, 0, len(c.revoked))
	for k := range c.revoked {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, key := range keys {
		rev := c.revoked[key]
		if at, ok := deletedAt[key]; !ok || at > rev {
			c.s.violation(fmt.Sprintf("lease key %s: revoke acknowledged at revision %d but the key was not deleted by then (deleted at %d)", key, rev, at))
		}
	}
}

// expiryBound is how long after the faults heal every abandoned lease must
// be gone: the longest TTL on the slowest clock, plus an election.
const expiryBound = 20 * Second

// awaitExpiry runs until no lease is left on a converged cluster, or
// reports the leases that outlived the bound.
func (s *Sim) awaitExpiry() {
	deadline := s.world.Now + expiryBound
	for {
		lead := s.leader()
		if lead != 0 && len(s.drv.nodes[lead].rep.Store().Leases()) == 0 {
			s.count("leases_expired")
			return
		}
		if s.world.Now >= deadline {
			break
		}
		s.world.RunUntil(s.world.Now + 200*Millisecond)
	}
	lead := s.leader()
	if lead == 0 {
		s.violation("leases: no leader while waiting for abandoned leases to expire")
		return
	}
	var ids []int64
	for _, li := range s.drv.nodes[lead].rep.Store().Leases() {
		ids = append(ids, li.ID)
	}
	s.violation(fmt.Sprintf("leases %x still alive %s after faults healed and keep-alives stopped", ids, vt(expiryBound)))
}
