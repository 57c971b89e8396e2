package diff

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// edgeCases probe corners of the API that are easy to get subtly wrong.
func edgeCases() []tcase {
	return []tcase{
		{name: "edge-range-raw-negative-limit", run: func(e *env) {
			fiveKeys(e)
			r, err := e.kv.Range(e.ctx, &pb.RangeRequest{Key: []byte(e.k("a")), RangeEnd: []byte(e.k("z")), Limit: -1})
			e.rec("range limit -1", r, err)
		}},
		{name: "edge-range-keys-and-count-only", run: func(e *env) {
			fiveKeys(e)
			e.getAll(clientv3.WithKeysOnly(), clientv3.WithCountOnly())
			e.getAll(clientv3.WithKeysOnly(), clientv3.WithLimit(1), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		}},
		{name: "edge-range-min-above-max", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinModRev(e.n.base+9), clientv3.WithMaxModRev(e.n.base+2))
			e.getAll(clientv3.WithMinCreateRev(e.n.base+4), clientv3.WithMaxCreateRev(e.n.base+1), clientv3.WithCountOnly())
		}},
		{name: "edge-range-filters-at-old-rev", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithRev(e.n.base+6), clientv3.WithMinModRev(e.n.base+3),
				clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend))
		}},
		{name: "edge-txn-range-options", run: func(e *env) {
			sortData(e)
			e.txn("sorted limited", nil, ops{
				clientv3.OpGet(e.k(""), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend), clientv3.WithLimit(2)),
				clientv3.OpGet(e.k(""), clientv3.WithPrefix(), clientv3.WithCountOnly()),
				clientv3.OpGet(e.k(""), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithMinModRev(e.n.base+9)),
			}, nil)
		}},
		{name: "edge-txn-delete-range-end-before-key", run: func(e *env) {
			fiveKeys(e)
			e.txn("backwards delete", nil, ops{clientv3.OpDelete(e.k("d"), clientv3.WithRange(e.k("b")), clientv3.WithPrevKV())}, nil)
			e.getAll(clientv3.WithCountOnly())
		}},
		{name: "edge-txn-compare-binary-value", run: func(e *env) {
			e.put("a", "\x00\xff")
			e.txn("less than ff ff", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "<", "\xff\xff")}, nil, nil)
			e.txn("greater than nul", cmps{clientv3.Compare(clientv3.Value(e.k("a")), ">", "\x00")}, nil, nil)
			e.txn("equal", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "\x00\xff")}, nil, nil)
		}},
		{name: "edge-txn-compare-prefix-versions", run: func(e *env) {
			e.put("p/a", "1")
			e.put("p/a", "1")
			e.put("p/b", "1")
			pre := func(c clientv3.Cmp) clientv3.Cmp { return c.WithPrefix() }
			e.txn("version > 0", cmps{pre(clientv3.Compare(clientv3.Version(e.k("p/")), ">", 0))}, nil, nil)
			e.txn("version = 0 empty", cmps{pre(clientv3.Compare(clientv3.Version(e.k("x/")), "=", 0))}, nil, nil)
			e.txn("create < r+3", cmps{pre(clientv3.Compare(clientv3.CreateRevision(e.k("p/")), "<", e.n.base+3))}, nil, nil)
			e.txn("lease = 0", cmps{pre(clientv3.Compare(clientv3.LeaseValue(e.k("p/")), "=", 0))}, nil, nil)
		}},
		{name: "edge-watch-empty-range", run: func(e *env) {
			w := e.watch("[c,a)", "c", clientv3.WithRange(e.k("a")))
			e.put("b", "1")
			w.expect(0)
			w.close()
		}},
		{name: "edge-watch-prev-kv-from-past", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.del("a")
			w := e.watch("a from r+1 prev", "a", clientv3.WithRev(e.n.base+1), clientv3.WithPrevKV())
			w.expect(3)
			w.close()
		}},
		{name: "edge-watch-after-compact-prev-kv", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.put("a", "3")
			e.compact(e.n.base + 2)
			w := e.watch("a from r+2 prev", "a", clientv3.WithRev(e.n.base+2), clientv3.WithPrevKV())
			w.expect(2)
			w.close()
		}},
		{name: "edge-watch-key-delete-range-txn", run: func(e *env) {
			fiveKeys(e)
			w := e.watch("from a", "a", clientv3.WithFromKey(), clientv3.WithPrevKV(), clientv3.WithFilterPut())
			e.del("b", clientv3.WithRange(e.k("e")))
			w.expect(3)
			w.close()
		}},
		{name: "edge-watch-both-filters", run: func(e *env) {
			w := e.watch("a nothing", "a", clientv3.WithFilterPut(), clientv3.WithFilterDelete())
			e.put("a", "1")
			e.del("a")
			w.expect(0)
			w.close()
		}},
		{name: "edge-watch-negative-start", run: func(e *env) {
			e.put("a", "1")
			w := e.watch("a from -1", "a", clientv3.WithRev(-1))
			e.put("a", "2")
			w.expect(1)
			w.close()
		}},
		{name: "edge-lease-negative-ttl", run: func(e *env) {
			e.grant(-5)
			e.grantID(0x7020, -1)
		}},
		{name: "edge-lease-keepalive-revoked", run: func(e *env) {
			id := e.grant(100)
			r, err := e.c.Revoke(e.ctx, id)
			e.rec("revoke", r, err)
			k, err := e.c.KeepAliveOnce(e.ctx, id)
			e.rec("keepalive", k, err)
			e.ttl(id, true)
		}},
		{name: "edge-lease-list-empty", run: func(e *env) {
			ls, err := e.c.Leases(e.ctx)
			e.rec("leases", ls, err)
		}},
		{name: "edge-lease-txn-put-and-revoke", run: func(e *env) {
			id := e.grant(100)
			e.txn("put two with lease", nil, ops{clientv3.OpPut(e.k("a"), "1", clientv3.WithLease(id)),
				clientv3.OpPut(e.k("b"), "1", clientv3.WithLease(id))}, nil)
			e.ttl(id, true)
			r, err := e.c.Revoke(e.ctx, id)
			e.rec("revoke", r, err)
			e.getAll()
		}},
		{name: "edge-compact-negative", run: func(e *env) {
			r, err := e.kv.Compact(e.ctx, &pb.CompactionRequest{Revision: -1})
			e.rec("compact -1", r, err)
		}},
		{name: "edge-delete-missing-prev-kv", run: func(e *env) {
			e.del("nothing", clientv3.WithPrevKV())
			e.del("", clientv3.WithPrefix(), clientv3.WithPrevKV())
		}},
	}
}
