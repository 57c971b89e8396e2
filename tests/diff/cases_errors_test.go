package diff

import (
	"fmt"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func errorCases() []tcase {
	return []tcase{
		sizeBoundaryCase(),
		{name: "err-empty-key", run: func(e *env) {
			r, err := e.c.Put(e.ctx, "", "v")
			e.rec("put empty", r, err)
			g, err := e.c.Get(e.ctx, "")
			e.rec("get empty", g, err)
			d, err := e.c.Delete(e.ctx, "")
			e.rec("delete empty", d, err)
			t, err := e.c.Txn(e.ctx).If(clientv3.Compare(clientv3.Value(""), "=", "")).Commit()
			e.rec("txn compare empty", t, err)
			t, err = e.c.Txn(e.ctx).Then(clientv3.OpPut("", "v")).Commit()
			e.rec("txn put empty", t, err)
		}},
		{name: "err-future-rev", run: func(e *env) {
			e.put("a", "1")
			e.get("a", clientv3.WithRev(e.n.base+2))
			e.get("a", clientv3.WithRev(e.n.base+1000))
			e.txn("future read", nil, ops{clientv3.OpGet(e.k("a"), clientv3.WithRev(e.n.base+2))}, nil)
		}},
		{name: "err-request-too-large", run: func(e *env) {
			huge := strings.Repeat("x", 1600*1024)
			e.put("a", huge)
			e.txn("huge txn", nil, ops{clientv3.OpPut(e.k("b"), huge)}, nil)
			e.get("", clientv3.WithPrefix(), clientv3.WithCountOnly())
		}},
		{name: "err-range-end-before-key", run: func(e *env) {
			fiveKeys(e)
			e.get("c", clientv3.WithRange(e.k("a")))
			e.get("c", clientv3.WithRange(e.k("c")))
			e.del("c", clientv3.WithRange(e.k("a")))
			e.getAll(clientv3.WithCountOnly())
		}},
		{name: "err-negative-rev", run: func(e *env) {
			e.put("a", "1")
			r, err := e.kv.Range(e.ctx, &pb.RangeRequest{Key: []byte(e.k("a")), Revision: -1})
			e.rec("range rev -1", r, err)
		}},
		{name: "err-compact-zero-negative", run: func(e *env) {
			r, err := e.kv.Compact(e.ctx, &pb.CompactionRequest{Revision: 0})
			e.rec("compact 0", r, err)
		}},
		{name: "err-raw-empty-txn-op", run: func(e *env) {
			r, err := e.kv.Txn(e.ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{}}})
			e.rec("txn empty op", r, err)
		}},
		{name: "err-raw-ignore-value-in-txn", run: func(e *env) {
			e.put("a", "1")
			r, err := e.kv.Txn(e.ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: []byte(e.k("a")), Value: []byte("x"), IgnoreValue: true}}}}})
			e.rec("txn ignore value with value", r, err)
			r, err = e.kv.Txn(e.ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: []byte(e.k("zz")), IgnoreValue: true}}}}})
			e.rec("txn ignore value missing key", r, err)
			e.getAll()
		}},
	}
}

// sizeBoundaryCase puts values whose PutRequest encodes to a few bytes
// either side of the 1.5 MiB request limit: etcd checks the whole raft
// request, header included, so the edge is part of the contract. NB: the
// header's request ID is a varint whose length (8 to 10 bytes) follows
// etcd's random member ID, so etcd's own edge moves by two bytes from run
// to run: PutRequests of limit-18 to limit-9 bytes are left out (a
// request at limit-16 passed or failed in etcd depending on its ID).
func sizeBoundaryCase() tcase {
	return tcase{name: "err-request-size-boundary", run: func(e *env) {
		const limit = 3 << 19
		key := e.k("a")
		for _, d := range []int{64, 24, 20, 8, 4, 0, -4} {
			// PutRequest: key (tag, 1-byte length, bytes), value (tag,
			// 3-byte length, bytes).
			n := limit - d - (2 + len(key)) - 4
			r, err := e.c.Put(e.ctx, key, strings.Repeat("v", n))
			e.rec(fmt.Sprintf("put limit-%d", d), r, err)
		}
	}}
}
