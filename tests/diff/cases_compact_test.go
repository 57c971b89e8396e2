package diff

import (
	clientv3 "go.etcd.io/etcd/client/v3"
)

// threeRevs writes a at base+1..base+3.
func threeRevs(e *env) {
	e.put("a", "1")
	e.put("a", "2")
	e.put("a", "3")
}

func compactCases() []tcase {
	return []tcase{
		{name: "compact-then-get-old", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 2)
			e.get("a", clientv3.WithRev(e.n.base+1))
			e.get("a", clientv3.WithRev(e.n.base+2))
			e.get("a", clientv3.WithRev(e.n.base+3))
			e.get("a")
		}},
		{name: "compact-future-rev", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 4)
			e.compact(e.n.base + 100)
			e.get("a")
		}},
		{name: "compact-twice", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 2)
			e.compact(e.n.base + 2)
			e.compact(e.n.base + 1)
			e.compact(e.n.base + 3)
		}},
		{name: "compact-physical", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base+3, clientv3.WithCompactPhysical())
			e.get("a", clientv3.WithRev(e.n.base+2))
			e.get("a")
		}},
		{name: "compact-current-rev", run: func(e *env) {
			threeRevs(e)
			e.del("a")
			e.compact(e.n.base + 4)
			e.get("a")
			e.get("a", clientv3.WithRev(e.n.base+4))
			e.put("a", "again")
			e.get("a")
		}},
		{name: "compact-then-txn-old-rev", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 3)
			e.txn("read compacted", nil, ops{clientv3.OpGet(e.k("a"), clientv3.WithRev(e.n.base+1))}, nil)
			e.txn("read at compact", nil, ops{clientv3.OpGet(e.k("a"), clientv3.WithRev(e.n.base+3))}, nil)
		}},
		{name: "compact-keeps-versions", run: func(e *env) {
			threeRevs(e)
			e.put("b", "1")
			e.compact(e.n.base + 4)
			e.put("a", "4")
			e.getAll()
		}},
	}
}
