package mvcc

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"metastore/core/engine"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
)

// The store over RocksDB: the same model test as over memory, and one
// random history applied to both engines at once, compared after every
// step.

// rocksChecks is how many runs the RocksDB variants make by default: each
// run opens databases on disk, so fewer than the memory test's, and fewer
// still under the race detector (-rapid.checks overrides it).
func rocksChecks() int {
	if raceEnabled {
		return 15
	}
	return 50
}

var rocksTestOptions = rocksdb.Options{BlockCacheBytes: 4 << 20, WriteBufferBytes: 1 << 20, BackgroundJobs: 1}

// rocksDirs hands out fresh database directories under one test's TempDir.
type rocksDirs struct {
	root string
	n    int
}

func (d *rocksDirs) open(t *rapid.T) *rocksdb.Engine {
	d.n++
	e, err := rocksdb.Open(filepath.Join(d.root, fmt.Sprint(d.n)), rocksTestOptions)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rocksMachine wires a storeMachine to RocksDB: SnapshotRestore restores
// into a new database and Reopen really closes and reopens one.
func rocksMachine(t *rapid.T, dirs *rocksDirs, sm *storeMachine) {
	sm.fresh = func(t *rapid.T, like engine.Engine) engine.Engine {
		if _, ok := like.(*rocksdb.Engine); ok {
			return dirs.open(t)
		}
		return memory.New()
	}
	sm.reopen = func(t *rapid.T, e engine.Engine) engine.Engine {
		r, ok := e.(*rocksdb.Engine)
		if !ok {
			return e
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		e, err := rocksdb.Open(r.Dir(), rocksTestOptions)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

func TestStoreMatchesModelRocksDB(t *testing.T) {
	setDefaultFlag(t, "rapid.checks", fmt.Sprint(rocksChecks()))
	setDefaultFlag(t, "rapid.steps", fmt.Sprint(defaultRapidSteps))
	dirs := &rocksDirs{root: t.TempDir()}
	rapid.Check(t, func(t *rapid.T) {
		e := dirs.open(t)
		s, err := Open(e)
		if err != nil {
			t.Fatal(err)
		}
		sm := &storeMachine{s: s, m: newModel()}
		rocksMachine(t, dirs, sm)
		defer sm.retire(sm.s.eng)
		t.Repeat(sm.actions())
	})
}

// TestEnginesAgree applies one random history to a store on the memory
// engine and one on RocksDB: every answer, Hash, HashKV and every key's
// revisions and records must be the same.
func TestEnginesAgree(t *testing.T) {
	setDefaultFlag(t, "rapid.checks", fmt.Sprint(rocksChecks()))
	setDefaultFlag(t, "rapid.steps", fmt.Sprint(defaultRapidSteps))
	dirs := &rocksDirs{root: t.TempDir()}
	rapid.Check(t, func(t *rapid.T) {
		s, err := Open(memory.New())
		if err != nil {
			t.Fatal(err)
		}
		twin, err := Open(dirs.open(t))
		if err != nil {
			t.Fatal(err)
		}
		sm := &storeMachine{s: s, m: newModel(), twin: twin}
		rocksMachine(t, dirs, sm)
		defer func() { sm.retire(sm.twin.eng) }()
		t.Repeat(sm.actions())
	})
}

func (sm *storeMachine) freshEngine(t *rapid.T, like engine.Engine) engine.Engine {
	if sm.fresh == nil {
		return memory.New()
	}
	return sm.fresh(t, like)
}

func (sm *storeMachine) reopenEngine(t *rapid.T, e engine.Engine) engine.Engine {
	if sm.reopen == nil {
		return e
	}
	return sm.reopen(t, e)
}

// retire closes an engine the machine no longer uses (a durable one holds
// files and threads).
func (sm *storeMachine) retire(e engine.Engine) {
	if _, ok := e.(*rocksdb.Engine); ok {
		_ = e.Close()
	}
}

// restoreTwin moves the twin to a fresh engine through its own snapshot.
func (sm *storeMachine) restoreTwin(t *rapid.T) *Store {
	fresh := sm.restoreFresh(t, sm.twin)
	sm.retire(sm.twin.eng)
	return fresh
}

// restoreFresh restores s's snapshot into a new store on a fresh engine of
// the same kind; s is left as it was.
func (sm *storeMachine) restoreFresh(t *rapid.T, s *Store) *Store {
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(sm.freshEngine(t, s.eng))
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Restore(data); err != nil {
		t.Fatal(err)
	}
	return fresh
}

// sameResult asserts two stores answered one request alike.
func sameResult(t *rapid.T, a, b Result) {
	if a.Duplicate != b.Duplicate || a.Err != b.Err {
		t.Fatalf("engines disagree: duplicate %v/%v err %v/%v", a.Duplicate, b.Duplicate, a.Err, b.Err)
	}
	if (a.Resp == nil) != (b.Resp == nil) || (a.Resp != nil && !proto.Equal(a.Resp.(proto.Message), b.Resp.(proto.Message))) {
		t.Fatalf("engines disagree on the response:\n  %v\n  %v", a.Resp, b.Resp)
	}
	if len(a.Events) != len(b.Events) {
		t.Fatalf("engines disagree: %d events vs %d", len(a.Events), len(b.Events))
	}
	for i := range a.Events {
		if !proto.Equal(a.Events[i], b.Events[i]) {
			t.Fatalf("engines disagree on event %d:\n  %v\n  %v", i, a.Events[i], b.Events[i])
		}
	}
}

// sameHistory asserts two stores hold the same state: Hash, HashKV at the
// current revision, the same revisions for every key, and the same record
// at each of them.
func sameHistory(t *rapid.T, a, b *Store) {
	if a.Rev() != b.Rev() || a.CompactRev() != b.CompactRev() || a.AppliedIndex() != b.AppliedIndex() {
		t.Fatalf("rev %d/%d compact %d/%d applied %d/%d", a.Rev(), b.Rev(), a.CompactRev(), b.CompactRev(), a.AppliedIndex(), b.AppliedIndex())
	}
	if a.Hash() != b.Hash() {
		t.Fatalf("Hash %x vs %x", a.Hash(), b.Hash())
	}
	ha, ra, ca, ea := a.HashKV(0)
	hb, rb, cb, eb := b.HashKV(0)
	if ha != hb || ra != rb || ca != cb || ea != nil || eb != nil {
		t.Fatalf("HashKV %x@%d/%d (%v) vs %x@%d/%d (%v)", ha, ra, ca, ea, hb, rb, cb, eb)
	}
	if a.idx.byKey.len() != b.idx.byKey.len() {
		t.Fatalf("%d keys vs %d", a.idx.byKey.len(), b.idx.byKey.len())
	}
	a.idx.ascend(func(ka *keyIndex) bool {
		k := ka.key()
		kb := b.idx.get(ka.keyBytes())
		if kb == nil || ka.nrev != kb.nrev {
			t.Fatalf("key %q: revision histories differ", k)
		}
		revsB := kb.revs()
		for i, rev := range ka.revs() {
			if rev != revsB[i] {
				t.Fatalf("key %q: revision %v vs %v", k, rev, revsB[i])
			}
			if rev.tomb() || rev.ghost() {
				continue // equal revisions, and neither holds a value
			}
			var kva, kvb mvccpb.KeyValue
			a.readKVInto(ka, rev, &kva)
			b.readKVInto(kb, rev, &kvb)
			if !proto.Equal(&kva, &kvb) || !bytes.Equal(kva.Value, kvb.Value) {
				t.Fatalf("key %q at %v: %v vs %v", k, rev, &kva, &kvb)
			}
		}
		return true
	})
}

var footprintKeys = flag.Int("footprint.keys", 200_000, "BenchmarkStoreFootprintRocksDB: keys of 1 KiB to load")

// BenchmarkStoreFootprintRocksDB loads -footprint.keys keys of 1 KiB into a
// store on RocksDB (transactions of 100 puts, no raft) and reports the Go
// heap in use afterwards per key: the MVCC key index, which keeps every key
// in RAM while the values stay in RocksDB. Report only; RocksDB's own
// memory (block cache, memtables) comes on top.
func BenchmarkStoreFootprintRocksDB(b *testing.B) {
	for range b.N {
		e, s := openRocksStore(b)
		loadPodKeys(b, s, *footprintKeys, make([]byte, 1024))
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/float64(1<<20), "MiB-heap")
		b.ReportMetric(float64(ms.HeapInuse)/float64(*footprintKeys), "heap-B/key")
		b.ReportMetric(float64(e.BlockCacheUsage())/float64(1<<20), "MiB-block-cache")
		runtime.KeepAlive(s)
		e.Close()
	}
}

// openRocksStore opens a store on a fresh RocksDB engine (default options)
// in a temporary directory. The caller closes the engine.
func openRocksStore(b *testing.B) (*rocksdb.Engine, *Store) {
	e, err := rocksdb.Open(b.TempDir(), rocksdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(e)
	if err != nil {
		b.Fatal(err)
	}
	return e, s
}

// podKey is the i-th key loadPodKeys writes.
func podKey(i int) []byte { return fmt.Appendf(nil, "/registry/pods/ns/pod-%09d", i) }

// loadPodKeys puts value to keys podKey(0) to podKey(n-1) into the empty
// store s, in transactions of 100 at indexes 1, 2, ..., and returns the
// last index applied.
func loadPodKeys(b *testing.B, s *Store, n int, value []byte) (index uint64) {
	for lo := 0; lo < n; lo += 100 {
		txn := &pb.TxnRequest{}
		for i := lo; i < min(lo+100, n); i++ {
			txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: podKey(i), Value: value}}})
		}
		index++
		if res := s.Apply(index, &pb.InternalRaftRequest{Txn: txn}); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	return index
}
