package diff

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

type cmps = []clientv3.Cmp
type ops = []clientv3.Op

// cmpCase runs one txn per operator against a key set up by setup: each
// reports which branch ran and reads the key in it.
func cmpCase(name string, setup func(e *env), target func(e *env) clientv3.Cmp, vals []any) tcase {
	return tcase{name: name, run: func(e *env) {
		setup(e)
		for _, op := range []string{"=", "!=", "<", ">"} {
			for _, v := range vals {
				c := target(e)
				c = clientv3.Compare(c, op, v)
				e.txn(fmt.Sprintf("%s %v", op, v), cmps{c},
					ops{clientv3.OpGet(e.k("a"))}, ops{clientv3.OpGet(e.k("a"), clientv3.WithKeysOnly())})
			}
		}
	}}
}

func txnCases() []tcase {
	twoPuts := func(e *env) {
		e.put("a", "m")
		e.put("a", "m")
	}
	return []tcase{
		cmpCase("txn-cmp-value", twoPuts, func(e *env) clientv3.Cmp { return clientv3.Value(e.k("a")) },
			[]any{"m", "a", "z"}),
		cmpCase("txn-cmp-version", twoPuts, func(e *env) clientv3.Cmp { return clientv3.Version(e.k("a")) },
			[]any{int64(1), int64(2), int64(3)}),
		{name: "txn-cmp-create-mod", run: func(e *env) {
			twoPuts(e)
			for _, op := range []string{"=", "!=", "<", ">"} {
				for d := int64(1); d <= 3; d++ {
					e.txn(fmt.Sprintf("create %s r+%d", op, d),
						cmps{clientv3.Compare(clientv3.CreateRevision(e.k("a")), op, e.n.base+d)}, nil, nil)
					e.txn(fmt.Sprintf("mod %s r+%d", op, d),
						cmps{clientv3.Compare(clientv3.ModRevision(e.k("a")), op, e.n.base+d)}, nil, nil)
				}
			}
		}},
		{name: "txn-cmp-lease", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "1", clientv3.WithLease(id))
			e.put("b", "1")
			for _, op := range []string{"=", "!=", "<", ">"} {
				e.txn("a lease "+op, cmps{clientv3.Compare(clientv3.LeaseValue(e.k("a")), op, id)}, nil, nil)
				e.txn("b lease "+op+" 0", cmps{clientv3.Compare(clientv3.LeaseValue(e.k("b")), op, 0)}, nil, nil)
			}
		}},
		{name: "txn-cmp-missing-key", run: func(e *env) {
			for _, c := range []clientv3.Cmp{
				clientv3.Compare(clientv3.Version(e.k("x")), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(e.k("x")), "=", 0),
				clientv3.Compare(clientv3.ModRevision(e.k("x")), "<", 5),
				clientv3.Compare(clientv3.Value(e.k("x")), "=", ""),
				clientv3.Compare(clientv3.Value(e.k("x")), "!=", "v"),
				clientv3.Compare(clientv3.Value(e.k("x")), ">", ""),
				clientv3.Compare(clientv3.LeaseValue(e.k("x")), "=", 0),
			} {
				e.txn(fmt.Sprintf("missing %v %v", c.GetCompare().Target, c.GetCompare().Result), cmps{c}, ops{clientv3.OpPut(e.k("hit"), "y")}, nil)
			}
			e.getAll()
		}},
		{name: "txn-cmp-prefix-range", run: func(e *env) {
			e.put("p/a", "1")
			e.put("p/b", "1")
			e.put("p/c", "2")
			pre := func(c clientv3.Cmp) clientv3.Cmp { return c.WithPrefix() }
			e.txn("all = 1", cmps{pre(clientv3.Compare(clientv3.Value(e.k("p/")), "=", "1"))}, nil, nil)
			e.txn("all < 3", cmps{pre(clientv3.Compare(clientv3.Value(e.k("p/")), "<", "3"))}, nil, nil)
			e.txn("all version = 1", cmps{pre(clientv3.Compare(clientv3.Version(e.k("p/")), "=", 1))}, nil, nil)
			e.txn("empty range", cmps{pre(clientv3.Compare(clientv3.Value(e.k("q/")), "=", "1"))}, nil, nil)
			e.txn("range end", cmps{clientv3.Compare(clientv3.Value(e.k("p/a")), "=", "1").WithRange(e.k("p/c"))}, nil, nil)
			e.txn("mod > base", cmps{pre(clientv3.Compare(clientv3.ModRevision(e.k("p/")), ">", e.n.base))}, nil, nil)
		}},
		{name: "txn-branches", run: func(e *env) {
			e.put("a", "1")
			e.txn("success", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "1")},
				ops{clientv3.OpPut(e.k("s"), "1", clientv3.WithPrevKV()), clientv3.OpDelete(e.k("a"), clientv3.WithPrevKV())},
				ops{clientv3.OpPut(e.k("f"), "1")})
			e.txn("failure", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "1")},
				ops{clientv3.OpPut(e.k("s"), "2")},
				ops{clientv3.OpPut(e.k("f"), "1"), clientv3.OpGet(e.k(""), clientv3.WithPrefix())})
			e.getAll()
		}},
		{name: "txn-multi-compare", run: func(e *env) {
			e.put("a", "1")
			e.put("b", "2")
			e.txn("both true", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "1"),
				clientv3.Compare(clientv3.Value(e.k("b")), "=", "2")}, ops{clientv3.OpGet(e.k("b"))}, nil)
			e.txn("one false", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "1"),
				clientv3.Compare(clientv3.Value(e.k("b")), "=", "3")}, nil, ops{clientv3.OpGet(e.k("a"))})
		}},
		{name: "txn-nested", run: func(e *env) {
			e.put("a", "1")
			inner := clientv3.OpTxn(cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "1")},
				ops{clientv3.OpPut(e.k("in"), "yes"), clientv3.OpGet(e.k("in"))},
				ops{clientv3.OpPut(e.k("in"), "no")})
			e.txn("outer", cmps{clientv3.Compare(clientv3.Version(e.k("a")), ">", 0)},
				ops{clientv3.OpPut(e.k("out"), "1"), inner}, nil)
			deep := clientv3.OpTxn(nil, ops{clientv3.OpTxn(nil, ops{clientv3.OpGet(e.k("out"))}, nil)}, nil)
			e.txn("deep", nil, ops{deep}, nil)
			e.getAll()
		}},
		{name: "txn-read-only", run: func(e *env) {
			fiveKeys(e)
			e.txn("reads", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "va")},
				ops{clientv3.OpGet(e.k("a")), clientv3.OpGet(e.k(""), clientv3.WithPrefix(), clientv3.WithLimit(2)),
					clientv3.OpGet(e.k("b"), clientv3.WithRev(e.n.base+1))}, nil)
			e.txn("no compares", nil, ops{clientv3.OpGet(e.k("c"), clientv3.WithCountOnly())}, nil)
			e.get("a")
		}},
		{name: "txn-put-then-range", run: func(e *env) {
			e.put("a", "old")
			e.txn("write then read", nil, ops{
				clientv3.OpPut(e.k("a"), "new"),
				clientv3.OpPut(e.k("b"), "b"),
				clientv3.OpGet(e.k(""), clientv3.WithPrefix()),
				clientv3.OpDelete(e.k("c"), clientv3.WithPrevKV()),
			}, nil)
			e.txn("delete then read", nil, ops{
				clientv3.OpDelete(e.k("a"), clientv3.WithPrevKV()),
				clientv3.OpGet(e.k(""), clientv3.WithPrefix()),
			}, nil)
		}},
		{name: "txn-empty", run: func(e *env) {
			e.txn("empty", nil, nil, nil)
			e.put("a", "1")
			e.txn("empty false", cmps{clientv3.Compare(clientv3.Value(e.k("a")), "=", "2")}, nil, nil)
		}},
		{name: "txn-too-many-ops", run: func(e *env) {
			var many ops
			for i := range 129 {
				many = append(many, clientv3.OpPut(e.k(fmt.Sprintf("k%03d", i)), "v"))
			}
			e.txn("129 puts", nil, many, nil)
			e.txn("128 puts", nil, many[:128], nil)
			e.get("", clientv3.WithPrefix(), clientv3.WithCountOnly())
			var gets ops
			for range 129 {
				gets = append(gets, clientv3.OpGet(e.k("k000")))
			}
			e.txn("129 gets in failure", cmps{clientv3.Compare(clientv3.Version(e.k("k000")), "=", 0)}, nil, gets)
			var cs cmps
			for range 129 {
				cs = append(cs, clientv3.Compare(clientv3.Version(e.k("k000")), "=", 1))
			}
			e.txn("129 compares", cs, nil, nil)
		}},
		{name: "txn-duplicate-put-put", run: func(e *env) {
			e.txn("put put", nil, ops{clientv3.OpPut(e.k("a"), "1"), clientv3.OpPut(e.k("a"), "2")}, nil)
			e.txn("put put in failure", nil, nil, ops{clientv3.OpPut(e.k("a"), "1"), clientv3.OpPut(e.k("a"), "2")})
			e.txn("put put across branches", nil, ops{clientv3.OpPut(e.k("a"), "1")}, ops{clientv3.OpPut(e.k("a"), "2")})
			e.getAll()
		}},
		{name: "txn-duplicate-put-delete", run: func(e *env) {
			e.put("a", "0")
			e.txn("put then delete same", nil, ops{clientv3.OpPut(e.k("a"), "1"), clientv3.OpDelete(e.k("a"))}, nil)
			e.txn("delete range over put", nil, ops{clientv3.OpDelete(e.k(""), clientv3.WithPrefix()),
				clientv3.OpPut(e.k("b"), "1")}, nil)
			e.txn("delete then put same", nil, ops{clientv3.OpDelete(e.k("a")), clientv3.OpPut(e.k("a"), "1")}, nil)
			e.txn("delete delete", nil, ops{clientv3.OpDelete(e.k("a")), clientv3.OpDelete(e.k(""), clientv3.WithPrefix())}, nil)
			e.txn("put outside delete range", nil, ops{clientv3.OpDelete(e.k("a"), clientv3.WithRange(e.k("b"))),
				clientv3.OpPut(e.k("b"), "1")}, nil)
			e.getAll()
		}},
		{name: "txn-duplicate-nested", run: func(e *env) {
			e.txn("put and nested put", nil, ops{clientv3.OpPut(e.k("a"), "1"),
				clientv3.OpTxn(nil, ops{clientv3.OpPut(e.k("a"), "2")}, nil)}, nil)
			e.txn("nested success and failure", nil, ops{clientv3.OpPut(e.k("a"), "1"),
				clientv3.OpTxn(nil, nil, ops{clientv3.OpPut(e.k("b"), "2")})}, nil)
			e.txn("two nested", nil, ops{
				clientv3.OpTxn(nil, ops{clientv3.OpPut(e.k("c"), "1")}, nil),
				clientv3.OpTxn(nil, ops{clientv3.OpDelete(e.k("c"))}, nil)}, nil)
			e.getAll()
		}},
	}
}
