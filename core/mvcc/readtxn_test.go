package mvcc

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

func readOp(r *pb.RangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func valueIs(k, v string) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
}

// TestReadTxnMatchesApply: a read-only txn served by ReadTxn answers what
// the same txn answers through raft (Apply), and changes nothing.
func TestReadTxnMatchesApply(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h.put("b", "2")
	h.put("a", "3")
	all := &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}
	cases := []struct {
		name string
		txn  *pb.TxnRequest
	}{
		{"compare holds", &pb.TxnRequest{Compare: []*pb.Compare{valueIs("a", "3")},
			Success: []*pb.RequestOp{readOp(all), readOp(&pb.RangeRequest{Key: []byte("a"), Revision: 2})},
			Failure: []*pb.RequestOp{readOp(&pb.RangeRequest{Key: []byte("b")})}}},
		{"compare fails", &pb.TxnRequest{Compare: []*pb.Compare{valueIs("a", "1")},
			Success: []*pb.RequestOp{readOp(all)},
			Failure: []*pb.RequestOp{readOp(&pb.RangeRequest{Key: []byte("b"), CountOnly: true}), readOp(&pb.RangeRequest{Key: []byte("a"), Limit: 1})}}},
		{"no compares, no ops", &pb.TxnRequest{}},
	}
	for _, c := range cases {
		txn := c.txn
		t.Run(c.name, func(t *testing.T) {
			rev, applied := h.s.Rev(), h.s.AppliedIndex()
			got, err := h.s.ReadTxn(txn)
			if err != nil {
				t.Fatalf("ReadTxn: %v", err)
			}
			if h.s.Rev() != rev || h.s.AppliedIndex() != applied {
				t.Fatalf("ReadTxn moved the store: rev %d->%d applied %d->%d", rev, h.s.Rev(), applied, h.s.AppliedIndex())
			}
			if got.Header.Revision != rev {
				t.Fatalf("header revision %d, want the current %d", got.Header.Revision, rev)
			}
			res := h.apply(&pb.InternalRaftRequest{Txn: txn})
			if res.Err != nil {
				t.Fatalf("Apply: %v", res.Err)
			}
			if !proto.Equal(got, res.Resp) {
				t.Fatalf("ReadTxn answered\n  %v\nApply answered\n  %v", got, res.Resp)
			}
		})
	}
}

func TestReadTxnErrors(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	future := &pb.TxnRequest{Success: []*pb.RequestOp{readOp(&pb.RangeRequest{Key: []byte("a"), Revision: 99})}}
	if _, err := h.s.ReadTxn(future); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("range at a future revision: %v, want ErrFutureRev", err)
	}
	// The failure branch is not taken: its bad revision does not matter.
	untaken := &pb.TxnRequest{Success: []*pb.RequestOp{readOp(&pb.RangeRequest{Key: []byte("a")})},
		Failure: []*pb.RequestOp{readOp(&pb.RangeRequest{Key: []byte("a"), Revision: 99})}}
	if _, err := h.s.ReadTxn(untaken); err != nil {
		t.Fatalf("untaken branch: %v", err)
	}
	empty := &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VALUE}}}
	if _, err := h.s.ReadTxn(empty); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("compare without a key: %v, want ErrEmptyKey", err)
	}
}

func TestTxnReadOnlyAndSerializable(t *testing.T) {
	ser := readOp(&pb.RangeRequest{Key: []byte("a"), Serializable: true})
	lin := readOp(&pb.RangeRequest{Key: []byte("a")})
	put := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a")}}}
	nested := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{}}}
	for _, c := range []struct {
		name     string
		txn      *pb.TxnRequest
		ro, sers bool
	}{
		{"empty", &pb.TxnRequest{}, true, true},
		{"serializable ranges", &pb.TxnRequest{Success: []*pb.RequestOp{ser}, Failure: []*pb.RequestOp{ser}}, true, true},
		{"one linearizable range", &pb.TxnRequest{Success: []*pb.RequestOp{ser}, Failure: []*pb.RequestOp{lin}}, true, false},
		{"a put in failure", &pb.TxnRequest{Success: []*pb.RequestOp{lin}, Failure: []*pb.RequestOp{put}}, false, false},
		{"a nested txn", &pb.TxnRequest{Success: []*pb.RequestOp{nested}}, false, false},
	} {
		if got := IsReadOnlyTxn(c.txn); got != c.ro {
			t.Errorf("%s: IsReadOnlyTxn = %v, want %v", c.name, got, c.ro)
		}
		if got := IsReadOnlyTxn(c.txn) && IsSerializableTxn(c.txn); got != c.sers {
			t.Errorf("%s: serializable read-only = %v, want %v", c.name, got, c.sers)
		}
	}
}
