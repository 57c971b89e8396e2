package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// MaxLeaseTTL is etcd's largest grantable lease TTL in seconds.
const MaxLeaseTTL = 9000000000

// Validate checks a request before it is proposed, so bad input gets an
// error without a raft round trip. Apply re-checks all of it (and whatever
// depends on state). The checks are etcd's gRPC-side ones:
//
//   - Range, Put, DeleteRange and every txn compare/op: empty key is
//     ErrEmptyKey; a Range's sort order or target outside the enums is
//     ErrInvalidSortOption.
//   - Put: ignore_value with a value is ErrValueProvided, ignore_lease with
//     a lease is ErrLeaseProvided.
//   - Txn: more than MaxTxnOps (ValidateOps: the configured limit) compares
//     or ops in a branch (nested txns get what their parent leaves) is
//     ErrTooManyOps (apply checks TxnOpsCeiling instead); an empty op is
//     ErrKeyNotFound; a key written twice in one branch (see
//     checkIntervals) is ErrDuplicateKey.
//   - LeaseGrant: TTL above MaxLeaseTTL is ErrLeaseTTLTooLarge.
//
// As in etcd, a range end at or before the key is not an error (the span is
// empty), nor is a negative revision (Range reads the current one).
func Validate(req *pb.InternalRaftRequest) error { return ValidateOps(req, MaxTxnOps) }

// ValidateOps is Validate with maxTxnOps (--max-txn-ops) in place of
// MaxTxnOps.
func ValidateOps(req *pb.InternalRaftRequest, maxTxnOps int) error {
	switch {
	case req.Range != nil:
		return validateRange(req.Range)
	case req.Put != nil:
		return validatePut(req.Put)
	case req.DeleteRange != nil:
		return validateDelete(req.DeleteRange)
	case req.Txn != nil:
		return validateTxn(req.Txn, maxTxnOps)
	case req.LeaseGrant != nil:
		return validateLeaseGrant(req.LeaseGrant)
	}
	return nil
}

func validateRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return ErrInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return ErrInvalidSortOption
	}
	return nil
}

func validatePut(p *pb.PutRequest) error {
	switch {
	case len(p.Key) == 0:
		return ErrEmptyKey
	case p.IgnoreValue && len(p.Value) != 0:
		return ErrValueProvided
	case p.IgnoreLease && p.Lease != 0:
		return ErrLeaseProvided
	}
	return nil
}

func validateDelete(d *pb.DeleteRangeRequest) error {
	if len(d.Key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

func validateLeaseGrant(g *pb.LeaseGrantRequest) error {
	if g.TTL > MaxLeaseTTL {
		return ErrLeaseTTLTooLarge
	}
	return nil
}

// validateTxn is etcd's checkTxnRequest followed by the duplicate-key check
// of both branches.
func validateTxn(t *pb.TxnRequest, maxOps int) error {
	if err := checkTxnOps(t, maxOps); err != nil {
		return err
	}
	if err := checkBranch(t.Success); err != nil {
		return err
	}
	return checkBranch(t.Failure)
}

func checkTxnOps(t *pb.TxnRequest, maxOps int) error {
	n := max(len(t.Compare), len(t.Success), len(t.Failure))
	if n > maxOps {
		return ErrTooManyOps
	}
	for _, c := range t.Compare {
		if len(c.GetKey()) == 0 {
			return ErrEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			if err := checkOp(op, maxOps-n); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch r := op.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		if r.RequestRange == nil {
			return ErrKeyNotFound
		}
		return validateRange(r.RequestRange)
	case *pb.RequestOp_RequestPut:
		if r.RequestPut == nil {
			return ErrKeyNotFound
		}
		return validatePut(r.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		if r.RequestDeleteRange == nil {
			return ErrKeyNotFound
		}
		return validateDelete(r.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		if r.RequestTxn == nil {
			return ErrKeyNotFound
		}
		return checkTxnOps(r.RequestTxn, maxOps)
	default:
		return ErrKeyNotFound
	}
}
