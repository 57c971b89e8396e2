package sim

import (
	"fmt"
	"math/rand/v2"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/checker"
	"metastore/core"
	"metastore/core/auth"
)

// The auth workload (Options.Auth): a root user, and a limited user who
// may read every KV key but write only the keys the auth client has
// granted it at the moment. KV clients act as either; the auth client
// grants and revokes write access to single keys while they run. The
// checker's model knows the grants, so it can tell that a denied write
// changed nothing, and that a write allowed or refused matches the
// permissions at its linearization point.
const (
	limitedUser = "lim"
	limitedRole = "lim-writes"
)

// authClient sets auth up (not recorded: it changes no key), enables it,
// then changes the limited user's write grants as recorded operations.
type authClient struct {
	s     *Sim
	rng   *rand.Rand
	id    int // history client ID
	step  int // next setup request
	ready bool
}

// setup are the requests that make the two users and enable auth. Each
// may be repeated after a lost answer: a repeat is harmless or answers
// "already exists".
func setup() []*pb.InternalRaftRequest {
	noPW := &authpb.UserAddOptions{NoPassword: true}
	return []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: auth.RootUser, Options: noPW}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: auth.RootUser, Role: auth.RootRole}},
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: limitedUser, Options: noPW}},
		{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: limitedRole}},
		{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: limitedRole, Perm: &authpb.Permission{
			PermType: authpb.Permission_READ, Key: []byte(kvKeyPrefix), RangeEnd: []byte(checker.PrefixEnd(kvKeyPrefix))}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: limitedUser, Role: limitedRole}},
		{AuthEnable: &pb.AuthEnableRequest{}},
	}
}

func (c *authClient) start() { c.s.world.After(c.rng.Int64N(100*Millisecond)+1, c.next) }

func (c *authClient) next() {
	if c.s.world.Now >= c.s.safetyEnd {
		return
	}
	if !c.ready {
		c.setupStep()
		return
	}
	k := fmt.Sprintf("%s%d", kvKeyPrefix, c.rng.IntN(c.s.opts.Keys))
	in := checker.Input{Kind: checker.GrantWrite, Key: k}
	if c.rng.IntN(2) == 0 {
		in.Kind = checker.RevokeWrite
	}
	ids := c.s.drv.ids
	c.s.doAt(c.id, in, ids[c.rng.IntN(len(ids))], func(*checker.Output) {
		c.s.world.After(c.rng.Int64N(300*Millisecond)+1, c.next)
	})
}

func (c *authClient) setupStep() {
	req := setup()[c.step]
	ids := c.s.drv.ids
	answered := false
	retry := func() { c.s.world.After(c.rng.Int64N(200*Millisecond)+1, c.next) }
	c.s.call(c.s.drv.nodes[ids[c.rng.IntN(len(ids))]], func(r *core.Replica, cb core.Callback) {
		r.Propose(asUser(r, auth.RootUser, req), cb)
	}, func(res core.Result, ok bool) {
		if answered {
			return
		}
		answered = true
		if !ok || (res.Err != nil && res.Err != auth.ErrUserAlreadyExist && res.Err != auth.ErrRoleAlreadyExist) {
			retry()
			return
		}
		c.step++
		if c.step == len(setup()) {
			c.ready = true
			c.s.count("auth_enabled")
		}
		retry()
	})
	c.s.world.After(requestTimeout, func() {
		if !answered {
			answered = true
			retry()
		}
	})
}

// authOn reports whether KV clients may act as the limited user: auth is
// enabled and acknowledged, so every later operation is checked.
func (s *Sim) authOn() bool { return s.auth != nil && s.auth.ready }

// asUser stamps req with user and the auth revision the replica has
// applied, as the server stamps a client's request (a stale revision is
// refused at apply, changing nothing).
func asUser(r *core.Replica, user string, req *pb.InternalRaftRequest) *pb.InternalRaftRequest {
	if req.Header == nil {
		req.Header = &pb.RequestHeader{}
	}
	req.Header.Username, req.Header.AuthRevision = user, r.Store().Auth().Revision()
	return req
}

// authRequest serves the auth workload's recorded operations.
func authRequest(in checker.Input) func(r *core.Replica, cb core.Callback) {
	perm := &authpb.Permission{PermType: authpb.Permission_WRITE, Key: []byte(in.Key)}
	var req *pb.InternalRaftRequest
	if in.Kind == checker.GrantWrite {
		req = &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: limitedRole, Perm: perm}}
	} else {
		req = &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: limitedRole, Key: perm.Key}}
	}
	return func(r *core.Replica, cb core.Callback) { r.Propose(asUser(r, auth.RootUser, req), cb) }
}

// authOutput maps the answers that are outcomes, not failures: a denied
// write, and a revoke of a grant that was not there.
func authOutput(in checker.Input, res core.Result) (checker.Output, bool) {
	switch {
	case res.Err == auth.ErrPermissionDenied:
		return checker.Output{Denied: true}, true
	case res.Err == auth.ErrPermissionNotGranted && in.Kind == checker.RevokeWrite:
		return checker.Output{}, true
	case res.Err == nil && (in.Kind == checker.GrantWrite || in.Kind == checker.RevokeWrite):
		return checker.Output{Succeeded: true}, true
	}
	return checker.Output{}, false
}
