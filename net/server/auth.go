package server

import (
	"context"
	"encoding/base64"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"

	"metastore/core"
	"metastore/core/auth"
)

// authServer is etcd's Auth service. Every change, and every read of
// users and roles, goes through raft as in etcd, so answers are
// linearizable and the caller's rights are checked at apply
// (core/auth). Passwords are hashed here, before proposing: the log never
// holds one in clear.
type authServer struct {
	pb.UnimplementedAuthServer
	s *Server
}

// authPropose proposes an auth request and fills the answer's header.
func authPropose[T interface{ GetHeader() *pb.ResponseHeader }](ctx context.Context, s *Server, req *pb.InternalRaftRequest, set func(T, *pb.ResponseHeader)) (T, error) {
	resp, err := propose[T](ctx, s, req)
	if err != nil {
		var zero T
		return zero, err
	}
	set(resp, s.header(resp.GetHeader()))
	return resp, nil
}

func (a *authServer) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthEnable: r}, func(x *pb.AuthEnableResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthDisable: r}, func(x *pb.AuthDisableResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthStatus: r}, func(x *pb.AuthStatusResponse, h *pb.ResponseHeader) { x.Header = h })
}

// Authenticate checks the password against the state a linearizable read
// sees, off the loop (bcrypt is slow by design), then has the token
// assigned through raft (simple) or signs one (JWT). Apply refuses a
// simple token if the auth revision moved since the check.
func (a *authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	// As etcd does, start over when users or roles changed between the
	// password check and the token's assignment.
	for attempt := 0; ; attempt++ {
		resp, err := a.authenticate(ctx, r)
		if !errors.Is(err, rpctypes.ErrGRPCAuthOldRevision) || attempt == 2 {
			return resp, err
		}
	}
}

func (a *authServer) authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	s := a.s
	var hash []byte
	var rev uint64
	var lerr error
	_, err := s.node.call(ctx, s.cfg.RequestTimeout, func(rp *core.Replica, cb core.Callback) {
		rp.ReadBarrier(func(err error) {
			if err != nil {
				cb(core.Result{Err: err})
				return
			}
			st := rp.Store().Auth()
			u := st.User(r.Name)
			switch {
			case !st.Enabled():
				lerr = auth.ErrAuthNotEnabled
			case u == nil:
				lerr = auth.ErrAuthFailed
			case u.GetOptions().GetNoPassword():
				lerr = auth.ErrNoPasswordUser
			default:
				hash, rev = u.Password, st.Revision()
			}
			cb(core.Result{})
		})
	})
	if err == nil {
		err = lerr
	}
	if err != nil {
		return nil, s.toGRPC(err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(r.Password)) != nil {
		return nil, s.toGRPC(auth.ErrAuthFailed)
	}
	if s.tokens.JWT() {
		tok, err := s.tokens.signJWT(r.Name, rev)
		if err != nil {
			return nil, s.toGRPC(err)
		}
		return &pb.AuthenticateResponse{Header: s.header(nil), Token: tok}, nil
	}
	req := &pb.InternalRaftRequest{
		Header:       &pb.RequestHeader{AuthRevision: rev},
		Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: simplePrefix()},
	}
	return authPropose(ctx, s, req, func(x *pb.AuthenticateResponse, h *pb.ResponseHeader) { x.Header = h })
}

// hashPassword is etcd's server-side step: bcrypt at --bcrypt-cost, sent
// base64-encoded in HashedPassword. A hash the client made itself passes
// as given.
func (a *authServer) hashPassword(password, hashed string) (string, error) {
	if password == "" && hashed != "" {
		return hashed, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), a.s.cfg.BcryptCost)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h), nil
}

func (a *authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	req := &pb.AuthUserAddRequest{Name: r.Name, Options: r.Options}
	if !r.GetOptions().GetNoPassword() {
		h, err := a.hashPassword(r.Password, r.HashedPassword)
		if err != nil {
			return nil, a.s.toGRPC(err)
		}
		req.HashedPassword = h
	}
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserAdd: req}, func(x *pb.AuthUserAddResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserDelete: r}, func(x *pb.AuthUserDeleteResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserGet: r}, func(x *pb.AuthUserGetResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserList: r}, func(x *pb.AuthUserListResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	h, err := a.hashPassword(r.Password, r.HashedPassword)
	if err != nil {
		return nil, a.s.toGRPC(err)
	}
	req := &pb.AuthUserChangePasswordRequest{Name: r.Name, HashedPassword: h}
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserChangePassword: req}, func(x *pb.AuthUserChangePasswordResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserGrantRole: r}, func(x *pb.AuthUserGrantRoleResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthUserRevokeRole: r}, func(x *pb.AuthUserRevokeRoleResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleAdd: r}, func(x *pb.AuthRoleAddResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleDelete: r}, func(x *pb.AuthRoleDeleteResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleGet: r}, func(x *pb.AuthRoleGetResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleList: r}, func(x *pb.AuthRoleListResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleGrantPermission: r}, func(x *pb.AuthRoleGrantPermissionResponse, h *pb.ResponseHeader) { x.Header = h })
}

func (a *authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return authPropose(ctx, a.s, &pb.InternalRaftRequest{AuthRoleRevokePermission: r}, func(x *pb.AuthRoleRevokePermissionResponse, h *pb.ResponseHeader) { x.Header = h })
}
