package mvcc

import (
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestCheckBranchAgreesWithCheckIntervals: the pairwise check of flat
// branches gives checkIntervals' verdict on random branches of puts,
// deletes, ranges and nested txns over a few keys, duplicates included.
func TestCheckBranchAgreesWithCheckIntervals(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d"}
	key := func() []byte { return []byte(keys[rng.IntN(len(keys))]) }
	var branch func(depth int) []*pb.RequestOp
	branch = func(depth int) []*pb.RequestOp {
		ops := make([]*pb.RequestOp, rng.IntN(flatBranchPuts+3))
		for i := range ops {
			switch n := rng.IntN(20); {
			case n == 0:
				ops[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: key()}}}
			case n == 1 && depth < 2:
				ops[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: branch(depth + 1), Failure: branch(depth + 1)}}}
			case n < 5:
				ops[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key()}}}
			default:
				ops[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key(), Value: []byte("v")}}}
			}
		}
		return ops
	}
	verdicts := map[bool]int{}
	for i := range 20000 {
		ops := branch(0)
		_, _, want := checkIntervals(ops)
		if got := checkBranch(ops); got != want {
			t.Fatalf("branch %d: checkBranch %v, checkIntervals %v", i, got, want)
		}
		verdicts[want == nil]++
	}
	if verdicts[true] == 0 || verdicts[false] == 0 {
		t.Fatalf("the random branches never reached both verdicts: %v", verdicts)
	}
}
