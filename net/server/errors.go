package server

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"metastore/core"
	"metastore/core/auth"
	"metastore/core/mvcc"
)

// Errors of the server itself, mapped like the replica's.
var (
	errTimeout      = errors.New("server: request timed out")
	errNoSpace      = errors.New("server: database space exceeded")
	errTooLarge     = errors.New("server: request is too large")
	errLearner      = errors.New("server: rpc not supported for learner")
	errMemberExists = errors.New("server: member ID already exist")
)

// grpcErrors maps sentinel errors to etcd's gRPC errors, so clients see
// exactly etcd's codes and messages (clientv3 matches on both).
var grpcErrors = map[error]error{
	mvcc.ErrEmptyKey:          rpctypes.ErrGRPCEmptyKey,
	mvcc.ErrCompacted:         rpctypes.ErrGRPCCompacted,
	mvcc.ErrFutureRev:         rpctypes.ErrGRPCFutureRev,
	mvcc.ErrTooManyOps:        rpctypes.ErrGRPCTooManyOps,
	mvcc.ErrDuplicateKey:      rpctypes.ErrGRPCDuplicateKey,
	mvcc.ErrLeaseNotFound:     rpctypes.ErrGRPCLeaseNotFound,
	mvcc.ErrLeaseExists:       rpctypes.ErrGRPCLeaseExist,
	mvcc.ErrLeaseTTLTooLarge:  rpctypes.ErrGRPCLeaseTTLTooLarge,
	mvcc.ErrValueProvided:     rpctypes.ErrGRPCValueProvided,
	mvcc.ErrLeaseProvided:     rpctypes.ErrGRPCLeaseProvided,
	mvcc.ErrKeyNotFound:       rpctypes.ErrGRPCKeyNotFound,
	mvcc.ErrInvalidSortOption: rpctypes.ErrGRPCInvalidSortOption,
	mvcc.ErrNoSpace:           rpctypes.ErrGRPCNoSpace,

	core.ErrStopped:       rpctypes.ErrGRPCStopped,
	core.ErrNotLeader:     rpctypes.ErrGRPCNotLeader,
	core.ErrNoLeader:      rpctypes.ErrGRPCNoLeader,
	core.ErrLeaseExpired:  rpctypes.ErrGRPCLeaseNotFound, // etcd: renewing an expired lease
	core.ErrTooManyReads:  rpctypes.ErrGRPCRequestTooManyRequests,
	core.ErrRequestTooBig: rpctypes.ErrGRPCRequestTooLarge,

	auth.ErrRootUserNotExist:     rpctypes.ErrGRPCRootUserNotExist,
	auth.ErrRootRoleNotExist:     rpctypes.ErrGRPCRootRoleNotExist,
	auth.ErrUserAlreadyExist:     rpctypes.ErrGRPCUserAlreadyExist,
	auth.ErrUserEmpty:            rpctypes.ErrGRPCUserEmpty,
	auth.ErrUserNotFound:         rpctypes.ErrGRPCUserNotFound,
	auth.ErrRoleAlreadyExist:     rpctypes.ErrGRPCRoleAlreadyExist,
	auth.ErrRoleNotFound:         rpctypes.ErrGRPCRoleNotFound,
	auth.ErrRoleEmpty:            rpctypes.ErrGRPCRoleEmpty,
	auth.ErrAuthFailed:           rpctypes.ErrGRPCAuthFailed,
	auth.ErrPermissionNotGiven:   rpctypes.ErrGRPCPermissionNotGiven,
	auth.ErrPermissionDenied:     rpctypes.ErrGRPCPermissionDenied,
	auth.ErrRoleNotGranted:       rpctypes.ErrGRPCRoleNotGranted,
	auth.ErrPermissionNotGranted: rpctypes.ErrGRPCPermissionNotGranted,
	auth.ErrAuthNotEnabled:       rpctypes.ErrGRPCAuthNotEnabled,
	auth.ErrInvalidAuthToken:     rpctypes.ErrGRPCInvalidAuthToken,
	auth.ErrInvalidAuthMgmt:      rpctypes.ErrGRPCInvalidAuthMgmt,
	auth.ErrAuthOldRevision:      rpctypes.ErrGRPCAuthOldRevision,

	ErrNodeStopped:  rpctypes.ErrGRPCStopped,
	errTimeout:      rpctypes.ErrGRPCTimeout,
	errNoSpace:      rpctypes.ErrGRPCNoSpace,
	errTooLarge:     rpctypes.ErrGRPCRequestTooLarge,
	errLearner:      rpctypes.ErrGRPCNotSupportedForLearner,
	errMemberExists: rpctypes.ErrGRPCMemberExist,
}

// toGRPC turns an error from the replica or the server into the error etcd
// would answer. Context errors pass through: gRPC turns them into Canceled
// and DeadlineExceeded, as etcd lets it.
func (s *Server) toGRPC(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, ok := status.FromError(err); ok {
		return err // already a gRPC error
	}
	if errors.Is(err, core.ErrDropped) {
		// raft drops proposals while there is no leader or leadership is
		// moving; both are transient, as etcd's answers say.
		if s.node.Status().Leader == 0 {
			return rpctypes.ErrGRPCNoLeader
		}
		return rpctypes.ErrGRPCLeaderChanged
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if g, ok := grpcErrors[e]; ok {
			return g
		}
	}
	if errors.Is(err, mvcc.ErrUnsupported) {
		return status.Error(codes.Unimplemented, err.Error())
	}
	if errors.Is(err, mvcc.ErrInvalidRangeEnd) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
