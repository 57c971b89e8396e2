package mvcc

import (
	"bytes"
	"path/filepath"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
)

// TestRequestBytesNotKept overwrites a put's (and a txn-put's) key and
// value after its apply, as a reused buffer would be: the store's index,
// its reads and the events it returned must not see it. A new key's
// index borrows the request's key until the put's record replaces it
// (getOrBorrow), and core's entry decoding hands the store slices of the
// raft entry, so anything left pointing at the request would show here.
func TestRequestBytesNotKept(t *testing.T) {
	engines := map[string]func(t *testing.T) engine.Engine{
		"memory": func(*testing.T) engine.Engine { return memory.New() },
		"rocksdb": func(t *testing.T) engine.Engine {
			e, err := rocksdb.Open(filepath.Join(t.TempDir(), "db"), rocksTestOptions)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			return e
		},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			s, err := Open(open(t))
			if err != nil {
				t.Fatal(err)
			}
			var index uint64
			apply := func(req *pb.InternalRaftRequest) Result {
				index++
				res := s.Apply(index, req)
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				return res
			}
			for i, asTxn := range []bool{false, true} {
				key, value := []byte{'k', byte('0' + i)}, []byte("value")
				wantKey, wantValue := string(key), string(value)
				put := &pb.PutRequest{Key: key, Value: value}
				req := &pb.InternalRaftRequest{Put: put}
				if asTxn {
					req = &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
						{Request: &pb.RequestOp_RequestPut{RequestPut: put}}}}}
				}
				res := apply(req)
				copy(key, "xx")
				copy(value, "XXXXX")
				if len(res.Events) != 1 {
					t.Fatalf("%d events", len(res.Events))
				}
				// NB: on RocksDB the event's value is the request's (there
				// is no record in memory to point at), by design.
				kv := res.Events[0].Kv
				if name == "rocksdb" {
					wantValue = string(value)
				}
				if string(kv.Key) != wantKey || string(kv.Value) != wantValue {
					t.Errorf("txn %v: event holds %q = %q, want %q = %q", asTxn, kv.Key, kv.Value, wantKey, wantValue)
				}
				got, err := s.Range(&pb.RangeRequest{Key: []byte(wantKey)})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Kvs) != 1 || !bytes.Equal(got.Kvs[0].Value, []byte("value")) {
					t.Errorf("txn %v: range of %q read %v", asTxn, wantKey, got.Kvs)
				}
				// The same key again: found through the index, not created anew.
				apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(wantKey), Value: []byte("v2")}})
				if n := s.idx.byKey.len(); n != i+1 {
					t.Errorf("txn %v: index holds %d keys, want %d", asTxn, n, i+1)
				}
				if ki := s.idx.get([]byte(wantKey)); ki == nil || ki.key() != wantKey {
					t.Errorf("txn %v: index lost %q", asTxn, wantKey)
				}
			}
		})
	}
}
