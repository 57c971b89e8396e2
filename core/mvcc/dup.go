package mvcc

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// span is a deleted key span as etcd's duplicate check sees it: [begin, end)
// where an empty end is +infinity and a single key k is [k, k+"\x00").
//
// NB: etcd builds a from-key delete (range end "\x00") as the span
// [key, "\x00"), which is empty for every non-empty key, so such a delete
// never conflicts with a put in the same txn. We keep that behaviour for
// compatibility; the store then writes a tombstone and a new version of
// the same key at one revision, in op order.
type span struct{ begin, end string }

// before reports a < b with "" as +infinity (etcd's StringAffineComparable).
func affineLess(a, b string) bool {
	switch {
	case a == "":
		return false
	case b == "":
		return true
	}
	return a < b
}

func (s span) hasKey(k string) bool {
	return affineLess(s.begin, k+"\x00") && affineLess(k, s.end)
}

func anyHasKey(spans []span, k string) bool {
	for _, s := range spans {
		if s.hasKey(k) {
			return true
		}
	}
	return false
}

// flatBranchPuts bounds the branches checkBranch compares pairwise.
const flatBranchPuts = 16

// checkBranch is checkIntervals' verdict on a txn branch. A branch with no
// nested txn and no delete (nearly every txn) and a few puts is checked by
// comparing its put keys pairwise, which is the whole rule there: the sets
// checkIntervals builds cost two maps per txn, each time it is validated
// (when proposed and when applied).
func checkBranch(ops []*pb.RequestOp) error {
	if len(ops) > flatBranchPuts {
		_, _, err := checkIntervals(ops)
		return err
	}
	for i, op := range ops {
		switch op.GetRequest().(type) {
		case *pb.RequestOp_RequestTxn, *pb.RequestOp_RequestDeleteRange:
			_, _, err := checkIntervals(ops)
			return err
		case *pb.RequestOp_RequestPut:
			for _, earlier := range ops[:i] {
				if p := earlier.GetRequestPut(); p != nil && bytes.Equal(p.GetKey(), op.GetRequestPut().GetKey()) {
					return ErrDuplicateKey
				}
			}
		}
	}
	return nil
}

// checkIntervals is etcd's rule for keys written twice in one branch:
// returns ErrDuplicateKey when two puts of this branch and its nested txns
// share a key (a put in a nested txn's success and failure branches may, as
// only one runs), or a put's key lies in a span deleted in this branch or
// its nested txns. Deletes may overlap each other, and reads anything.
// It returns the branch's puts and deletes for the enclosing level.
func checkIntervals(ops []*pb.RequestOp) (map[string]struct{}, []span, error) {
	var dels []span
	for _, op := range ops {
		d := op.GetRequestDeleteRange()
		if d == nil {
			continue
		}
		if len(d.RangeEnd) != 0 {
			dels = append(dels, span{string(d.Key), string(d.RangeEnd)})
		} else {
			dels = append(dels, span{string(d.Key), string(d.Key) + "\x00"})
		}
	}
	puts := make(map[string]struct{})
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if _, dup := puts[k]; dup || anyHasKey(dels, k) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range putsElse {
			if _, dup := puts[k]; dup {
				if _, same := putsThen[k]; !same {
					return nil, nil, ErrDuplicateKey
				}
			}
			if anyHasKey(dels, k) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		// etcd merges only the nested spans that meet ["\x00", +inf).
		all := span{"\x00", ""}
		for _, d := range append(delsThen, delsElse...) {
			if spansMeet(d, all) {
				dels = append(dels, d)
			}
		}
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if _, dup := puts[k]; dup || anyHasKey(dels, k) {
			return nil, nil, ErrDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}

func spansMeet(a, b span) bool {
	return affineLess(a.begin, b.end) && affineLess(b.begin, a.end)
}
