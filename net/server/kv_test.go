package server

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"metastore/core"
)

func TestPutGetDelete(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	put, err := m.cli.Put(ctx, "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if put.Header.Revision != 2 || put.Header.ClusterId != 0xc1 || put.Header.MemberId != 1 || put.Header.RaftTerm == 0 {
		t.Fatalf("put header = %+v", put.Header)
	}
	get, err := m.cli.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "1" || get.Header.Revision != 2 {
		t.Fatalf("get = %+v", get)
	}
	ser, err := m.cli.Get(ctx, "a", clientv3.WithSerializable())
	if err != nil || len(ser.Kvs) != 1 {
		t.Fatalf("serializable get = %+v, %v", ser, err)
	}
	del, err := m.cli.Delete(ctx, "a", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if del.Deleted != 1 || len(del.PrevKvs) != 1 || del.Header.Revision != 3 {
		t.Fatalf("delete = %+v", del)
	}
	get, err = m.cli.Get(ctx, "a")
	if err != nil || len(get.Kvs) != 0 {
		t.Fatalf("get after delete = %+v, %v", get, err)
	}
}

func TestRangeOptionsAndTxn(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	for _, k := range []string{"k1", "k2", "k3", "x"} {
		if _, err := m.cli.Put(ctx, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	get, err := m.cli.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(get.Kvs) != 2 || string(get.Kvs[0].Key) != "k3" || !get.More || get.Count != 3 {
		t.Fatalf("prefix get = %+v", get)
	}
	cnt, err := m.cli.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil || cnt.Count != 4 || len(cnt.Kvs) != 0 {
		t.Fatalf("count = %+v, %v", cnt, err)
	}
	old, err := m.cli.Get(ctx, "k1", clientv3.WithRev(2))
	if err != nil || len(old.Kvs) != 1 || old.Kvs[0].ModRevision != 2 {
		t.Fatalf("get at rev 2 = %+v, %v", old, err)
	}

	txn, err := m.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("k1"), "=", "v-k1")).
		Then(clientv3.OpPut("k1", "new"), clientv3.OpGet("k2")).
		Else(clientv3.OpDelete("k1")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !txn.Succeeded || len(txn.Responses) != 2 || string(txn.Responses[1].GetResponseRange().Kvs[0].Value) != "v-k2" {
		t.Fatalf("txn = %+v", txn)
	}
	txn, err = m.cli.Txn(ctx).If(clientv3.Compare(clientv3.Version("nope"), ">", 0)).Else(clientv3.OpGet("k1")).Commit()
	if err != nil || txn.Succeeded || string(txn.Responses[0].GetResponseRange().Kvs[0].Value) != "new" {
		t.Fatalf("failing txn = %+v, %v", txn, err)
	}
}

func TestErrorCodes(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		if _, err := m.cli.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.cli.Compact(ctx, 4); err != nil {
		t.Fatal(err)
	}
	var ops []clientv3.Op
	for i := 0; i < 129; i++ {
		ops = append(ops, clientv3.OpPut(string(rune('a'+i%26))+string(rune(i)), "v"))
	}
	_, leaseErr := m.cli.KeepAliveOnce(ctx, 12345)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"empty key", func() error { _, err := m.cli.Put(ctx, "", "v"); return err }(), rpctypes.ErrGRPCEmptyKey},
		{"too many ops", func() error { _, err := m.cli.Txn(ctx).Then(ops...).Commit(); return err }(), rpctypes.ErrGRPCTooManyOps},
		{"duplicate key", func() error {
			_, err := m.cli.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit()
			return err
		}(), rpctypes.ErrGRPCDuplicateKey},
		{"future rev", func() error { _, err := m.cli.Get(ctx, "k", clientv3.WithRev(100)); return err }(), rpctypes.ErrGRPCFutureRev},
		{"compacted", func() error { _, err := m.cli.Get(ctx, "k", clientv3.WithRev(2)); return err }(), rpctypes.ErrGRPCCompacted},
		{"unknown lease put", func() error { _, err := m.cli.Put(ctx, "l", "v", clientv3.WithLease(777)); return err }(), rpctypes.ErrGRPCLeaseNotFound},
		{"unknown lease revoke", func() error { _, err := m.cli.Revoke(ctx, 777); return err }(), rpctypes.ErrGRPCLeaseNotFound},
		{"unknown lease keepalive", leaseErr, rpctypes.ErrGRPCLeaseNotFound},
		{"too large", func() error { _, err := m.cli.Put(ctx, "big", strings.Repeat("x", 100<<10)); return err }(), rpctypes.ErrGRPCRequestTooLarge},
	}
	for _, c := range cases {
		// clientv3 turns etcd's gRPC errors into comparable EtcdErrors:
		// equality checks both the code and the message.
		if c.err != rpctypes.Error(c.want) {
			t.Errorf("%s: err = %#v, want %#v", c.name, c.err, rpctypes.Error(c.want))
		}
	}
}

// TestReadOnlyTxnSkipsRaft: a txn that only reads is served like a Range,
// after a ReadIndex round and without an entry in the log, with etcd's
// answer (the branch its compare picks, the current revision).
func TestReadOnlyTxnSkipsRaft(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	if _, err := m.cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	put, err := m.cli.Put(ctx, "b", "2")
	if err != nil {
		t.Fatal(err)
	}
	// The member publishes its attributes through raft once it leads; let
	// that entry be committed before counting.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ml, err := m.cli.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ml.Members[0].Name != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member never published its name")
		}
	}
	commit := commitIndex(t, m)
	for _, ser := range []bool{false, true} {
		var opts []clientv3.OpOption
		if ser {
			opts = append(opts, clientv3.WithSerializable())
		}
		txn, err := m.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value("a"), "=", "1")).
			Then(clientv3.OpGet("b", opts...), clientv3.OpGet("", append(opts, clientv3.WithFromKey(), clientv3.WithCountOnly())...)).
			Else(clientv3.OpGet("a", opts...)).
			Commit()
		if err != nil {
			t.Fatalf("serializable=%v: %v", ser, err)
		}
		if !txn.Succeeded || txn.Header.Revision != put.Header.Revision || len(txn.Responses) != 2 ||
			string(txn.Responses[0].GetResponseRange().Kvs[0].Value) != "2" || txn.Responses[1].GetResponseRange().Count != 2 {
			t.Fatalf("serializable=%v: txn = %+v", ser, txn)
		}
	}
	// A write in the branch not taken still makes it a write, as in etcd.
	if _, err := m.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("a"), "=", "1")).
		Then(clientv3.OpGet("a")).Else(clientv3.OpPut("c", "3")).Commit(); err != nil {
		t.Fatal(err)
	}
	if got := commitIndex(t, m); got != commit+1 {
		t.Fatalf("commit index %d after two read-only txns and one that may write, want %d", got, commit+1)
	}
}

// commitIndex reads the replica's commit index on its loop, after the
// round that answered the last request.
func commitIndex(t *testing.T, m *member) uint64 {
	t.Helper()
	got := make(chan uint64, 1)
	if err := m.node.Do(ctxT(t), func(r *core.Replica) { got <- r.Status().Commit }); err != nil {
		t.Fatal(err)
	}
	return <-got
}
