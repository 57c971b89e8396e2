package mvcc

// This file pins the types of the API the replica (core) and the server (net)
// use; the methods live in the files named after their concept (store.go,
// range.go, txn.go, lease.go, ...). The signatures are the contract: change
// them only together with core/replica*.go.

import (
	"errors"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Errors a client receives; net/ maps each to etcd's rpctypes error.
var (
	ErrEmptyKey         = errors.New("mvcc: key is not provided")
	ErrCompacted        = errors.New("mvcc: required revision has been compacted")
	ErrFutureRev        = errors.New("mvcc: required revision is a future revision")
	ErrTooManyOps       = errors.New("mvcc: too many operations in txn request")
	ErrDuplicateKey     = errors.New("mvcc: duplicate key given in txn request")
	ErrInvalidRangeEnd  = errors.New("mvcc: range end must be greater than key")
	ErrLeaseNotFound    = errors.New("lease: lease not found")
	ErrLeaseExists      = errors.New("lease: lease already exists")
	ErrLeaseTTLTooLarge = errors.New("lease: too large lease TTL")
	ErrValueProvided    = errors.New("mvcc: value is provided")
	ErrLeaseProvided    = errors.New("mvcc: lease is provided")
	// ErrKeyNotFound: ignore_value/ignore_lease on a missing key, or an
	// empty RequestOp in a txn (etcd's ErrGRPCKeyNotFound).
	ErrKeyNotFound = errors.New("mvcc: key not found")
	// ErrInvalidSortOption: a sort order or target outside the enums
	// (etcd's ErrGRPCInvalidSortOption).
	ErrInvalidSortOption = errors.New("mvcc: invalid sort option")
	// ErrNoSpace: a write that adds data while a NOSPACE alarm is active
	// (etcd's ErrGRPCNoSpace).
	ErrNoSpace = errors.New("mvcc: database space exceeded")
	// ErrUnsupported: a request kind this state machine does not apply
	// (auth, alarms, cluster version...); the replica handles or rejects it.
	ErrUnsupported = errors.New("mvcc: unsupported request")
)

// MaxTxnOps is etcd's default limit on operations per txn (per branch).
const MaxTxnOps = 128

// TxnOpsCeiling is the largest --max-txn-ops a member may be given. Apply
// checks it rather than the member's own limit: members may be configured
// differently, and apply must decide the same everywhere.
const TxnOpsCeiling = 1 << 14

// Result is the outcome of applying one request.
type Result struct {
	// Resp is the etcd response: *pb.PutResponse, *pb.RangeResponse,
	// *pb.DeleteRangeResponse, *pb.TxnResponse, *pb.CompactionResponse,
	// *pb.LeaseGrantResponse, *pb.LeaseRevokeResponse or
	// *pb.LeaseCheckpointResponse or *pb.AlarmResponse. Its Header carries Revision.
	Resp proto.Message
	// Err is the client's answer when the request failed (the entry is still
	// applied: the applied index advances, state does not change).
	Err error
	// Events are the watch events this request produced, all at one revision.
	Events []*mvccpb.Event
	// Duplicate is true when the request ID was applied before; nothing ran.
	Duplicate bool
}

// LeaseInfo describes one lease as replicated state knows it.
type LeaseInfo struct {
	ID  int64
	TTL int64 // granted TTL, seconds
	// RemainingTTL is the last checkpointed remaining TTL in seconds, 0 if
	// never checkpointed (then TTL applies in full).
	RemainingTTL int64
	Keys         [][]byte // attached keys, sorted
}

// Member is a cluster member as recorded by applied configuration changes.
type Member struct {
	ID      uint64
	Context []byte // opaque to mvcc: the server's member attributes
	Learner bool
}

// Where the rest of the API lives:
//
//	Validate(req) error                          validate.go, dup.go
//	Store, Open(eng), Apply, ApplyNoop           store.go
//	Store.NoDedup (canary C5), SplitAppliedIndex (canary C7)   store.go
//	Store.HistoryAtCompactRev (canary C9)        store.go, events.go
//	Store.OldReadsSkipTombstones (canary C10)    store.go, range.go
//	Store.CompactRevUnreadable (canary C11)      store.go, range.go, txn.go
//	AppliedIndex, Rev, CompactRev                store.go
//	ApplyMember, Members                         members.go
//	Alarms, Alarm                                alarm.go
//	Rebase (snapshot restore)                    rebase.go
//	Range                                        range.go
//	HashKV, Hash                                 hash.go
//	Events                                       events.go
//	Lease, Leases, MaxLeaseTTL                   lease.go, validate.go
//	Snapshot, Restore                            snapshot.go
