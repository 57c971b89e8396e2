package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
	"metastore/engines/memory"
)

func putOp(k, v string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
}

func delOp(k, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end)}}}
}

func rangeOp(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(k)}}}
}

func txnOp(t *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: t}}
}

func nOps(n int, op func(i int) *pb.RequestOp) []*pb.RequestOp {
	out := make([]*pb.RequestOp, n)
	for i := range out {
		out[i] = op(i)
	}
	return out
}

// TestValidate covers every stateless rejection, each through Validate and
// again through Apply (which must give the same error and change nothing).
func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  *pb.InternalRaftRequest
		want error
	}{
		{"put empty key", &pb.InternalRaftRequest{Put: &pb.PutRequest{Value: []byte("v")}}, ErrEmptyKey},
		{"range empty key", &pb.InternalRaftRequest{Range: &pb.RangeRequest{}}, ErrEmptyKey},
		{"delete empty key", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{}}, ErrEmptyKey},
		{"bad sort order", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}}, ErrInvalidSortOption},
		{"bad sort target", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}}, ErrInvalidSortOption},
		{"ignore_value with value", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}}, ErrValueProvided},
		{"ignore_lease with lease", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), Lease: 5, IgnoreLease: true}}, ErrLeaseProvided},
		{"lease TTL too large", &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 1, TTL: MaxLeaseTTL + 1}}, ErrLeaseTTLTooLarge},
		{"too many ops", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: nOps(MaxTxnOps+1, func(i int) *pb.RequestOp { return rangeOp("a") })}}, ErrTooManyOps},
		{"too many compares", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Compare: make([]*pb.Compare, MaxTxnOps+1)}}, ErrTooManyOps},
		{"nested budget", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: nOps(100, func(i int) *pb.RequestOp {
			if i == 0 {
				return txnOp(&pb.TxnRequest{Success: nOps(29, func(int) *pb.RequestOp { return rangeOp("a") })})
			}
			return rangeOp("a")
		})}}, ErrTooManyOps},
		{"compare empty key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Compare: []*pb.Compare{{}}}}, ErrEmptyKey},
		{"empty op", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{{}}}}, ErrKeyNotFound},
		{"op empty key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Failure: []*pb.RequestOp{putOp("", "v")}}}, ErrEmptyKey},
		{"put put", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1"), putOp("a", "2")}}}, ErrDuplicateKey},
		{"put in deleted range", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "c"), putOp("b", "1")}}}, ErrDuplicateKey},
		{"put then delete key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Failure: []*pb.RequestOp{putOp("a", "1"), delOp("a", "")}}}, ErrDuplicateKey},
		{"nested put vs parent put", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1"),
			txnOp(&pb.TxnRequest{Failure: []*pb.RequestOp{putOp("a", "2")}})}}}, ErrDuplicateKey},
		{"nested delete vs parent put", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("b", "1"),
			txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "z")}})}}}, ErrDuplicateKey},
		{"two nested txns put one key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1")}}),
			txnOp(&pb.TxnRequest{Failure: []*pb.RequestOp{putOp("a", "2")}})}}}, ErrDuplicateKey},
		// Accepted, as etcd accepts them:
		{"reads overlap writes", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1"), rangeOp("a"), delOp("b", "")}}}, nil},
		{"deletes overlap", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "c"), delOp("b", "d")}}}, nil},
		{"then/else put one key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1")}, Failure: []*pb.RequestOp{putOp("a", "2")}})}}}, nil},
		{"branches put one key", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1")}, Failure: []*pb.RequestOp{putOp("a", "2")}}}, nil},
		{"from-key delete and put (etcd quirk)", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "\x00"), putOp("b", "1")}}}, nil},
		{"range end before key", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte("a")}}, nil},
		{"negative revision", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("b"), Revision: -3}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Validate(c.req); !errors.Is(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
			if errors.Is(c.want, ErrTooManyOps) {
				return // a proposal-time limit: apply checks TxnOpsCeiling (TestApplyTxnOpsCeiling)
			}
			h := newHarness(t)
			before := h.s.Hash()
			r := h.apply(c.req)
			if !errors.Is(r.Err, c.want) {
				t.Fatalf("Apply err = %v, want %v", r.Err, c.want)
			}
			if c.want != nil && (h.s.Hash() != before || h.s.AppliedIndex() != 1 || r.Resp != nil) {
				t.Fatalf("rejected request changed state or answered %v", r.Resp)
			}
		})
	}
}

// TestApplyStateErrors covers the rejections that depend on state.
func TestApplyStateErrors(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // rev 2
	h.put("a", "2") // rev 3
	check := func(name string, req *pb.InternalRaftRequest, want error) {
		t.Helper()
		before, rev := h.s.Hash(), h.s.Rev()
		if r := h.apply(req); !errors.Is(r.Err, want) {
			t.Fatalf("%s: err %v, want %v", name, r.Err, want)
		}
		if h.s.Hash() != before || h.s.Rev() != rev {
			t.Fatalf("%s: state changed", name)
		}
	}
	check("put unknown lease", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), Lease: 42}}, ErrLeaseNotFound)
	check("ignore_value missing key", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("zz"), IgnoreValue: true}}, ErrKeyNotFound)
	check("ignore_lease missing key", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("zz"), IgnoreLease: true}}, ErrKeyNotFound)
	check("compact future", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 4}}, ErrFutureRev)
	check("revoke unknown", &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 9}}, ErrLeaseNotFound)
	check("txn put unknown lease", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("b", "1"),
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("c"), Lease: 7}}}}}}, ErrLeaseNotFound)
	check("txn future range", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp("b", "1"),
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 4}}}}}}, ErrFutureRev)
	check("unsupported", &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{}}, ErrUnsupported)

	if r := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 5, TTL: 10}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	check("grant existing", &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 5, TTL: 10}}, ErrLeaseExists)

	if r := h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 3}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	check("compact again", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 3}}, ErrCompacted)
	check("compact older", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 2}}, ErrCompacted)
	check("txn compacted range", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 2}}}}}}, ErrCompacted)

	if _, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 2}); err != ErrCompacted {
		t.Fatalf("range below compaction: %v", err)
	}
	if _, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 3}); err != nil {
		t.Fatalf("range at the compact revision: %v", err)
	}
	if _, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 4}); err != ErrFutureRev {
		t.Fatalf("future range: %v", err)
	}
	if _, err := h.s.Events(3, []byte("a"), nil, false); err != ErrCompacted {
		t.Fatalf("events at the compact revision: %v", err)
	}
	if _, _, _, err := h.s.HashKV(2); err != ErrCompacted {
		t.Fatalf("HashKV below compaction: %v", err)
	}
	if _, _, _, err := h.s.HashKV(9); err != ErrFutureRev {
		t.Fatalf("HashKV future: %v", err)
	}
}

// TestCompactionDeletesHistory checks that compaction removes superseded
// versions and dead keys from the engine at once, keeping live ones.
func TestCompactionDeletesHistory(t *testing.T) {
	eng := memory.New()
	s, err := Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s}
	for _, v := range []string{"1", "2", "3"} {
		h.put("a", v)
	}
	h.put("b", "x")
	h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}}) // rev 6
	h.put("c", "y")                                                                         // rev 7
	h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 6}})
	it := eng.NewIter(prefixRev, prefixEnd(prefixRev))
	var revs []int64
	for ok := it.First(); ok; ok = it.Next() {
		revs = append(revs, parseRevKey(it.Key()).main)
	}
	it.Close()
	if len(revs) != 2 || revs[0] != 4 || revs[1] != 7 {
		t.Fatalf("history after compaction at 6: revisions %v, want [4 7]", revs)
	}
	if kv := h.get("a", 6).Kvs; len(kv) != 1 || string(kv[0].Value) != "3" || kv[0].Version != 3 {
		t.Fatalf("a@6 = %v", kv)
	}
	// Reopen sees the same compacted state.
	s2, err := Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	if s2.CompactRev() != 6 || s2.Hash() != s.Hash() {
		t.Fatalf("reopened compact rev %d", s2.CompactRev())
	}
}

// TestLeaseLifecycle: a lease's keys follow puts, deletes and re-puts, and
// revoking deletes them all at one revision.
func TestLeaseLifecycle(t *testing.T) {
	h := newHarness(t)
	r := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 30}})
	id := r.Resp.(*pb.LeaseGrantResponse).ID
	if id <= 0 {
		t.Fatalf("generated ID %d", id)
	}
	for _, k := range []string{"b", "a", "c"} {
		h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Lease: id}})
	}
	h.put("c", "no lease") // detaches c
	h.apply(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{{ID: id, Remaining_TTL: 12}, {ID: 999, Remaining_TTL: 1}}}})
	l, ok := h.s.Lease(id)
	if !ok || l.TTL != 30 || l.RemainingTTL != 12 || len(l.Keys) != 2 || !bytes.Equal(l.Keys[0], []byte("a")) {
		t.Fatalf("lease = %+v", l)
	}
	rev := h.s.Rev()
	r = h.apply(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
	if r.Err != nil || len(r.Events) != 2 || h.s.Rev() != rev+1 || r.Events[0].Kv.ModRevision != rev+1 {
		t.Fatalf("revoke: err %v events %v rev %d", r.Err, r.Events, h.s.Rev())
	}
	if _, ok := h.s.Lease(id); ok || len(h.get("a", 0).Kvs) != 0 || len(h.get("c", 0).Kvs) != 1 {
		t.Fatal("revoke left the lease or its keys, or took c")
	}
	// A generated ID skips a taken one: take the ID index 50 would get.
	taken := h.s.newLeaseID(50)
	h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: taken, TTL: 1}})
	if got := h.s.newLeaseID(50); got == taken || got <= 0 {
		t.Fatalf("generated ID %d collides with %d", got, taken)
	}
}

// TestDedup: a re-proposed request ID is not applied twice; NoDedup
// (canary C5) applies it again; the window prunes the oldest IDs.
func TestDedup(t *testing.T) {
	h := newHarness(t)
	req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 7}, Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("v")}}
	h.apply(req)
	r := h.apply(req)
	if !r.Duplicate || r.Resp != nil || h.s.Rev() != 2 || h.s.AppliedIndex() != 2 {
		t.Fatalf("re-proposal: dup %v rev %d applied %d", r.Duplicate, h.s.Rev(), h.s.AppliedIndex())
	}
	// The record survives snapshot/restore.
	data, _ := h.s.Snapshot()
	s2 := newStore(t)
	if err := s2.Restore(data); err != nil {
		t.Fatal(err)
	}
	if r := s2.Apply(3, req); !r.Duplicate {
		t.Fatal("restored store forgot the request ID")
	}
	h.s.NoDedup = true
	if r := h.apply(req); r.Duplicate || h.s.Rev() != 3 {
		t.Fatalf("NoDedup: dup %v rev %d", r.Duplicate, h.s.Rev())
	}

	// Pruning: a window of 2 forgets the oldest ID.
	h2 := newHarness(t)
	h2.s.dedup.max = 2
	for id := uint64(1); id <= 3; id++ {
		h2.apply(&pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: id}, Put: &pb.PutRequest{Key: []byte("k")}})
	}
	if h2.s.dedup.has(1) || !h2.s.dedup.has(2) || !h2.s.dedup.has(3) {
		t.Fatal("window did not prune the oldest ID")
	}
	if _, ok, _ := h2.s.eng.Get(idKey(prefixDedup, 1)); ok {
		t.Fatal("pruned ID still in the engine")
	}
	s3, err := Open(h2.s.eng)
	if err != nil {
		t.Fatal(err)
	}
	if s3.dedup.has(1) || !s3.dedup.has(3) || s3.dedup.len() != 2 {
		t.Fatal("reopened dedup log differs")
	}
}

// countingEngine counts Write calls, to see how applies are batched.
type countingEngine struct {
	*memory.Engine
	writes int
}

func (c *countingEngine) Write(b engine.Batch) error {
	c.writes++
	return c.Engine.Write(b)
}

// TestAppliedIndexBatching: data, applied index and dedup record go in one
// batch, or in two with the C7 canary.
func TestAppliedIndexBatching(t *testing.T) {
	for _, split := range []bool{false, true} {
		eng := &countingEngine{Engine: memory.New()}
		s, err := Open(eng)
		if err != nil {
			t.Fatal(err)
		}
		s.SplitAppliedIndex = split
		s.Apply(1, &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1}, Put: &pb.PutRequest{Key: []byte("a")}})
		want := 1
		if split {
			want = 2
		}
		if eng.writes != want {
			t.Fatalf("split=%v: %d engine writes, want %d", split, eng.writes, want)
		}
	}
}

func TestNoopAndMembers(t *testing.T) {
	h := newHarness(t)
	before := h.s.Hash()
	if err := h.s.ApplyNoop(4); err != nil || h.s.AppliedIndex() != 4 || h.s.Hash() != before {
		t.Fatalf("noop: %v applied %d", err, h.s.AppliedIndex())
	}
	if err := h.s.ApplyMember(5, Member{ID: 9, Context: []byte("n9")}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.s.ApplyMember(6, Member{ID: 3, Learner: true}, false); err != nil {
		t.Fatal(err)
	}
	ms := h.s.Members()
	if len(ms) != 2 || ms[0].ID != 3 || !ms[0].Learner || ms[1].ID != 9 || string(ms[1].Context) != "n9" {
		t.Fatalf("members %+v", ms)
	}
	data, _ := h.s.Snapshot()
	s2 := newStore(t)
	if err := s2.Restore(data); err != nil {
		t.Fatal(err)
	}
	if len(s2.Members()) != 2 || s2.AppliedIndex() != 6 || s2.Hash() != h.s.Hash() {
		t.Fatal("members or applied index lost in snapshot")
	}
	if err := h.s.ApplyMember(7, Member{ID: 9}, true); err != nil || len(h.s.Members()) != 1 {
		t.Fatalf("remove: %v %v", err, h.s.Members())
	}
	if err := s2.Restore(data[:len(data)-1]); err == nil {
		t.Fatal("truncated snapshot accepted")
	}
}

// Apply accepts any txn up to TxnOpsCeiling, whatever limit the proposing
// member had, and refuses larger ones.
func TestApplyTxnOpsCeiling(t *testing.T) {
	h := newHarness(t)
	n := 0
	put := func(int) *pb.RequestOp { n++; return putOp(fmt.Sprintf("k%06d", n), "v") }
	big := &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: nOps(MaxTxnOps+1, put)}}
	if r := h.apply(big); r.Err != nil {
		t.Fatalf("apply of %d ops: %v", MaxTxnOps+1, r.Err)
	}
	huge := &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: nOps(TxnOpsCeiling+1, put)}}
	if r := h.apply(huge); !errors.Is(r.Err, ErrTooManyOps) {
		t.Fatalf("apply of %d ops: %v, want ErrTooManyOps", TxnOpsCeiling+1, r.Err)
	}
	if err := ValidateOps(big, MaxTxnOps+1); err != nil {
		t.Fatalf("ValidateOps with a raised limit: %v", err)
	}
}
