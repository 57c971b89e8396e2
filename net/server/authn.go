package server

import (
	"context"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"metastore/core"
	"metastore/core/auth"
	"metastore/core/mvcc"
)

// caller is who sent a request, as far as the request goroutine can tell:
// a token (a JWT already verified), or a client certificate's common name.
// Simple tokens are resolved on the loop goroutine, against the replica.
type caller struct {
	token  string // a simple token, resolved later
	jwtErr error  // a JWT that failed verification
	user   string // from a verified JWT
	rev    uint64
	cn     string // from a verified client certificate (--client-cert-auth)
	// unread is the request's context when auth was off as the request
	// came (the caller was not read): resolve reads it should auth be on.
	unread context.Context
}

// rootKey marks a context of the member's own calls (health checks), which
// run as root, as etcd's do. A context value, not metadata: no client can
// send it.
type rootKey struct{}

func withRoot(ctx context.Context) context.Context { return context.WithValue(ctx, rootKey{}, true) }

// callerOf reads the token metadata (etcd's "token", or "authorization"
// with an optional "Bearer "), else the client certificate's CN. With auth
// off as of the loop's last round, nobody asks who called: the reading
// (two metadata scans) waits for resolve, which does it only if auth is on
// by then.
func (s *Server) callerOf(ctx context.Context) caller {
	var c caller
	if ctx.Value(rootKey{}) != nil {
		c.user, c.rev = auth.RootUser, ^uint64(0) // never stale
		return c
	}
	if !s.node.lastStatus().AuthEnabled {
		c.unread = ctx
		return c
	}
	return s.readCaller(ctx)
}

// readCaller is callerOf for a request that is not the member's own.
func (s *Server) readCaller(ctx context.Context) caller {
	var c caller
	// Two lookups, not FromIncomingContext, which copies all the metadata
	// on every request.
	tok := first(metadata.ValueFromIncomingContext(ctx, rpctypes.TokenFieldNameGRPC))
	if tok == "" {
		tok = strings.TrimPrefix(first(metadata.ValueFromIncomingContext(ctx, rpctypes.TokenFieldNameSwagger)), "Bearer ")
	}
	switch {
	case tok != "" && s.tokens.JWT():
		c.user, c.rev, c.jwtErr = s.tokens.parseJWT(tok)
	case tok != "":
		c.token = tok
	case s.cfg.ClientCertAuth:
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				for _, chain := range ti.State.VerifiedChains {
					if len(chain) > 0 {
						c.cn = chain[0].Subject.CommonName
						break
					}
				}
			}
		}
	}
	return c
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// resolve names the user and auth revision of c on the loop goroutine.
// With auth disabled everyone is anonymous and tokens are ignored, as in
// etcd; an unknown, expired or forged token is ErrInvalidAuthToken.
func (s *Server) resolve(r *core.Replica, c caller) (user string, rev uint64, err error) {
	a := r.Store().Auth()
	if !a.Enabled() {
		return "", 0, nil
	}
	if c.unread != nil {
		c = s.readCaller(c.unread) // auth came on since the request read the status
	}
	switch {
	case c.jwtErr != nil:
		return "", 0, c.jwtErr
	case c.user != "":
		return c.user, c.rev, nil
	case c.token != "":
		t, ok := a.Token(c.token)
		if !ok {
			return "", 0, auth.ErrInvalidAuthToken
		}
		if s.tokens.touchSimple(c.token, time.Now()) {
			a.DropToken(c.token)
			return "", 0, auth.ErrInvalidAuthToken
		}
		// NB: as etcd's simple tokens, a live token speaks for the
		// current revision: changes that must end it (password, user
		// deletion) drop it instead.
		return t.User, a.Revision(), nil
	case c.cn != "":
		return c.cn, a.Revision(), nil
	}
	return "", 0, nil
}

// gate is how much of a caller a call needs once auth is on.
type gate int

const (
	open          gate = iota
	authenticated      // any user (Status, listing alarms)
	admin              // the root role (compaction, maintenance, members)
)

// checkGate resolves the caller and checks it against g.
func (s *Server) checkGate(ctx context.Context, g gate) error {
	// With auth off (the status of the last loop round says so) the
	// user-only calls skip the loop round trip. NB: right after an enable,
	// one round may still say off; admin calls always check exactly.
	if g == authenticated && !s.node.Status().AuthEnabled {
		return nil
	}
	c := s.callerOf(ctx)
	var cerr error
	err := s.node.exec(ctx, s.cfg.RequestTimeout, func(r *core.Replica) {
		user, _, err := s.resolve(r, c)
		a := r.Store().Auth()
		switch {
		case err != nil:
		case g == admin:
			err = a.CheckAdmin(user)
		case a.Enabled() && user == "":
			err = auth.ErrUserEmpty
		}
		cerr = err
	})
	if err == nil {
		err = cerr
	}
	return s.toGRPC(err)
}

// stamp writes the caller into req's header, where apply checks it (etcd's
// Username and AuthRevision), and runs the checks etcd makes before
// proposing: revoking a lease needs write access to its keys.
func (s *Server) stamp(r *core.Replica, c caller, req *pb.InternalRaftRequest) error {
	if req.Authenticate != nil {
		return nil // the Authenticate handler set the checked revision
	}
	user, rev, err := s.resolve(r, c)
	if err != nil {
		return err
	}
	if !r.Store().Auth().Enabled() {
		return nil
	}
	if req.Header == nil {
		req.Header = &pb.RequestHeader{}
	}
	req.Header.Username, req.Header.AuthRevision = user, rev
	if req.LeaseRevoke != nil {
		if user == "" {
			return auth.ErrUserEmpty
		}
		return r.Store().CheckLeaseKeys(user, rev, req.LeaseRevoke.ID)
	}
	return nil
}

// adminMethods are etcd's root-only calls once auth is on.
var adminMethods = map[string]bool{
	"/etcdserverpb.KV/Compact":             true,
	"/etcdserverpb.Maintenance/Defragment": true,
	"/etcdserverpb.Maintenance/Hash":       true,
	"/etcdserverpb.Maintenance/HashKV":     true,
	"/etcdserverpb.Maintenance/MoveLeader": true,
	"/etcdserverpb.Maintenance/Downgrade":  true,
	"/etcdserverpb.Maintenance/Snapshot":   true,
	"/etcdserverpb.Cluster/MemberAdd":      true,
	"/etcdserverpb.Cluster/MemberRemove":   true,
	"/etcdserverpb.Cluster/MemberUpdate":   true,
	"/etcdserverpb.Cluster/MemberPromote":  true,
}

func gateOf(method string, req any) gate {
	switch r := req.(type) {
	case *pb.AlarmRequest:
		if r.Action == pb.AlarmRequest_GET {
			return authenticated
		}
		return admin
	case *pb.StatusRequest, *pb.LeaseGrantRequest, *pb.LeaseTimeToLiveRequest, *pb.LeaseLeasesRequest, *pb.MemberListRequest:
		return authenticated
	}
	if adminMethods[method] {
		return admin
	}
	return open
}

func (s *Server) adminUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if g := gateOf(info.FullMethod, req); g != open {
		if err := s.checkGate(ctx, g); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (s *Server) adminStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if adminMethods[info.FullMethod] {
		if err := s.checkGate(ss.Context(), admin); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}

// withCallerToken is an outgoing context carrying the incoming call's auth
// token, for a call this member makes to another on the caller's behalf
// (Status of a learner before promoting it needs a user once auth is on).
func withCallerToken(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if tok := first(md.Get(rpctypes.TokenFieldNameGRPC)); tok != "" {
		return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok)
	}
	return ctx
}

// checkLeaseKeysRead is etcd's rule for listing a lease's keys (TimeToLive
// with keys, LeaseLeases): an admin may, anyone else needs read access to
// every key attached to the leases ids (nil: every lease).
func (s *Server) checkLeaseKeysRead(ctx context.Context, ids []int64) error {
	c := s.callerOf(ctx)
	var cerr error
	err := s.node.exec(ctx, s.cfg.RequestTimeout, func(r *core.Replica) {
		a := r.Store().Auth()
		user, rev, err := s.resolve(r, c)
		if err != nil || !a.Enabled() || a.CheckAdmin(user) == nil {
			cerr = err
			return
		}
		var leases []mvcc.LeaseInfo
		if ids == nil {
			leases = r.Store().Leases()
		} else {
			for _, id := range ids {
				if li, ok := r.Store().Lease(id); ok {
					leases = append(leases, li)
				}
			}
		}
		for _, li := range leases {
			for _, k := range li.Keys {
				if err := a.CheckRange(user, rev, k, nil); err != nil {
					cerr = err
					return
				}
			}
		}
	})
	if err == nil {
		err = cerr
	}
	return s.toGRPC(err)
}
