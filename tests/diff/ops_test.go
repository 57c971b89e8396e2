package diff

import (
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The helpers below make one call each and record its normalized result,
// labelled with the call and its key relative to the case's prefix.

func (e *env) put(k, v string, opts ...clientv3.OpOption) {
	r, err := e.c.Put(e.ctx, e.k(k), v, opts...)
	e.rec("put "+strconv.Quote(k), r, err)
}

func (e *env) get(k string, opts ...clientv3.OpOption) {
	r, err := e.c.Get(e.ctx, e.k(k), opts...)
	e.rec("get "+strconv.Quote(k), r, err)
}

func (e *env) del(k string, opts ...clientv3.OpOption) {
	r, err := e.c.Delete(e.ctx, e.k(k), opts...)
	e.rec("delete "+strconv.Quote(k), r, err)
}

// getAll reads every key of the case.
func (e *env) getAll(opts ...clientv3.OpOption) {
	r, err := e.c.Get(e.ctx, e.prefix, append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...)
	e.rec("get prefix", r, err)
}

// txn runs If(cmps).Then(thens).Else(elses).
func (e *env) txn(label string, cmps []clientv3.Cmp, thens, elses []clientv3.Op) {
	r, err := e.c.Txn(e.ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
	e.rec("txn "+label, r, err)
}

func (e *env) compact(rev int64, opts ...clientv3.CompactOption) {
	r, err := e.c.Compact(e.ctx, rev, opts...)
	e.rec("compact "+e.n.rev(rev), r, err)
}

// grant grants a lease of ttl seconds and returns its ID (0 on error).
func (e *env) grant(ttl int64) clientv3.LeaseID {
	r, err := e.c.Grant(e.ctx, ttl)
	e.rec("grant", r, err)
	if err != nil {
		return 0
	}
	return r.ID
}
