package diff

import (
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// grantID grants a lease with a chosen ID through the raw API (clientv3's
// Grant cannot choose one).
func (e *env) grantID(id, ttl int64) {
	r, err := e.lease.LeaseGrant(e.ctx, &pb.LeaseGrantRequest{ID: id, TTL: ttl})
	e.rec("grant id", r, err)
}

func (e *env) ttl(id clientv3.LeaseID, keys bool) {
	var opts []clientv3.LeaseOption
	if keys {
		opts = append(opts, clientv3.WithAttachedKeys())
	}
	r, err := e.c.TimeToLive(e.ctx, id, opts...)
	if err == nil {
		slices.SortFunc(r.Keys, func(a, b []byte) int { return slices.Compare(a, b) })
	}
	e.rec("timetolive", r, err)
}

func leaseCases() []tcase {
	return []tcase{
		{name: "lease-grant", run: func(e *env) {
			id := e.grant(60)
			e.ttl(id, false)
		}},
		{name: "lease-grant-with-id", run: func(e *env) {
			e.grantID(0x7001, 60)
			e.ttl(0x7001, true)
			e.put("a", "1", clientv3.WithLease(0x7001))
			e.get("a")
		}},
		{name: "lease-grant-duplicate-id", run: func(e *env) {
			e.grantID(0x7002, 60)
			e.grantID(0x7002, 30)
		}},
		{name: "lease-grant-ttl-too-large", run: func(e *env) {
			e.grant(9000000001)
			e.grant(9000000000)
		}},
		{name: "lease-grant-small-ttl", run: func(e *env) {
			e.grant(1)
			e.grant(0)
		}},
		{name: "lease-put-unknown", run: func(e *env) {
			e.put("a", "1", clientv3.WithLease(0x7bad))
			e.get("a")
			e.txn("put unknown lease", nil, ops{clientv3.OpPut(e.k("b"), "1", clientv3.WithLease(0x7bad))}, nil)
		}},
		{name: "lease-revoke-deletes-keys", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "1", clientv3.WithLease(id))
			e.put("b", "1", clientv3.WithLease(id))
			e.put("c", "1")
			r, err := e.c.Revoke(e.ctx, id)
			e.rec("revoke", r, err)
			e.getAll()
			e.ttl(id, true)
		}},
		{name: "lease-timetolive-keys", run: func(e *env) {
			id := e.grant(100)
			e.put("b", "1", clientv3.WithLease(id))
			e.put("a", "1", clientv3.WithLease(id))
			e.put("\xff", "1", clientv3.WithLease(id))
			e.ttl(id, true)
			e.del("a")
			e.ttl(id, true)
		}},
		{name: "lease-timetolive-unknown", run: func(e *env) {
			e.ttl(0x7bad, true)
			e.ttl(0x7bad, false)
		}},
		{name: "lease-list", run: func(e *env) {
			e.grantID(0x7010, 100)
			e.grantID(0x7011, 100)
			e.grantID(0x7012, 100)
			r, err := e.c.Revoke(e.ctx, 0x7011)
			e.rec("revoke", r, err)
			ls, err := e.c.Leases(e.ctx)
			if err == nil {
				slices.SortFunc(ls.Leases, func(a, b clientv3.LeaseStatus) int { return int(a.ID - b.ID) })
			}
			e.rec("leases", ls, err)
		}},
		{name: "lease-keepalive-once", run: func(e *env) {
			id := e.grant(100)
			r, err := e.c.KeepAliveOnce(e.ctx, id)
			e.rec("keepalive", r, err)
			e.ttl(id, false)
		}},
		{name: "lease-keepalive-unknown", run: func(e *env) {
			r, err := e.c.KeepAliveOnce(e.ctx, 0x7bad)
			e.rec("keepalive", r, err)
		}},
		{name: "lease-revoke-unknown", run: func(e *env) {
			r, err := e.c.Revoke(e.ctx, 0x7bad)
			e.rec("revoke", r, err)
			id := e.grant(100)
			r, err = e.c.Revoke(e.ctx, id)
			e.rec("revoke", r, err)
			r, err = e.c.Revoke(e.ctx, id)
			e.rec("revoke again", r, err)
		}},
		{name: "lease-move-key", run: func(e *env) {
			id1 := e.grant(100)
			id2 := e.grant(100)
			e.put("a", "1", clientv3.WithLease(id1))
			e.put("a", "2", clientv3.WithLease(id2), clientv3.WithPrevKV())
			e.ttl(id1, true)
			e.ttl(id2, true)
			r, err := e.c.Revoke(e.ctx, id1)
			e.rec("revoke first", r, err)
			e.get("a")
		}},
	}
}
