package diff

import (
	"context"
	"net/url"
	"strconv"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Auth cases talk to the raw Auth API and pass tokens as etcd's "token"
// metadata, so each call shows exactly what the server answered. Every case
// starts and ends with no users, no roles and auth disabled (authReset),
// because the server is shared by all cases.

const rootPW = "rootpw"

// rawConn is a plain gRPC connection to the case's server, without
// clientv3's interceptors, which retry a refused token for seconds before
// giving the error back. One per case, closed at its end.
func (e *env) rawConn() *grpc.ClientConn {
	if e.raw == nil {
		u, err := url.Parse(e.c.Endpoints()[0])
		if err != nil {
			e.t.Fatal(err)
		}
		if e.raw, err = grpc.NewClient(u.Host, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { e.raw.Close() })
	}
	return e.raw
}

func (e *env) authc() pb.AuthClient { return pb.NewAuthClient(e.rawConn()) }

func (e *env) rawKV() pb.KVClient { return pb.NewKVClient(e.rawConn()) }

// as is a context carrying token ("" for none).
func (e *env) as(token string) context.Context {
	if token == "" {
		return e.ctx
	}
	return metadata.AppendToOutgoingContext(e.ctx, "token", token)
}

// call records one auth API call. Tokens are never recorded: they are
// random; AuthenticateResponse shows as "token" when one came.
func (e *env) call(label string, f func() (proto.Message, error)) {
	r, err := f()
	if err == nil {
		if a, ok := r.(*pb.AuthenticateResponse); ok && a.Token != "" {
			e.note("%s token", label)
			return
		}
	}
	e.rec(label, r, err)
}

// login authenticates and returns the token ("" on failure), recording the
// outcome.
func (e *env) login(user, pw string) string {
	r, err := e.authc().Authenticate(e.ctx, &pb.AuthenticateRequest{Name: user, Password: pw})
	if err != nil {
		e.rec("login "+user, nil, err)
		return ""
	}
	e.note("login %s ok", user)
	return r.Token
}

func (e *env) userAdd(tok, name, pw string) {
	e.call("user add "+name, func() (proto.Message, error) {
		return e.authc().UserAdd(e.as(tok), &pb.AuthUserAddRequest{Name: name, Password: pw})
	})
}

func (e *env) roleAdd(tok, name string) {
	e.call("role add "+name, func() (proto.Message, error) {
		return e.authc().RoleAdd(e.as(tok), &pb.AuthRoleAddRequest{Name: name})
	})
}

func (e *env) grantRole(tok, user, role string) {
	e.call("grant "+role+" to "+user, func() (proto.Message, error) {
		return e.authc().UserGrantRole(e.as(tok), &pb.AuthUserGrantRoleRequest{User: user, Role: role})
	})
}

// grantPerm grants typ on the case's key k to end (both relative to the
// prefix; end "" is k alone, "\x00" is from k on).
func (e *env) grantPerm(tok, role string, typ authpb.Permission_Type, k, end string) {
	var re []byte
	switch end {
	case "":
	case "\x00":
		re = []byte{0}
	default:
		re = []byte(e.k(end))
	}
	e.call("grant "+typ.String()+" "+strconv.Quote(k)+"-"+strconv.Quote(end)+" to "+role, func() (proto.Message, error) {
		return e.authc().RoleGrantPermission(e.as(tok), &pb.AuthRoleGrantPermissionRequest{Name: role,
			Perm: &authpb.Permission{PermType: typ, Key: []byte(e.k(k)), RangeEnd: re}})
	})
}

func (e *env) status(tok string) {
	e.call("auth status", func() (proto.Message, error) { return e.authc().AuthStatus(e.as(tok), &pb.AuthStatusRequest{}) })
}

// enableWithRoot makes root (root role) and enables auth; it returns
// root's token.
func (e *env) enableWithRoot() string {
	e.userAdd("", "root", rootPW)
	e.grantRole("", "root", "root")
	e.call("auth enable", func() (proto.Message, error) { return e.authc().AuthEnable(e.ctx, &pb.AuthEnableRequest{}) })
	return e.login("root", rootPW)
}

// kvAs runs a KV call with token and records it.
func (e *env) getAs(tok, k string, end string) {
	r, err := e.rawKV().Range(e.as(tok), &pb.RangeRequest{Key: []byte(e.k(k)), RangeEnd: rangeEnd(e, end)})
	e.rec("get as user "+strconv.Quote(k)+"-"+strconv.Quote(end), r, err)
}

func (e *env) putAs(tok, k string, prevKV bool) {
	r, err := e.rawKV().Put(e.as(tok), &pb.PutRequest{Key: []byte(e.k(k)), Value: []byte("v"), PrevKv: prevKV})
	e.rec("put as user "+strconv.Quote(k), r, err)
}

func (e *env) delAs(tok, k, end string) {
	r, err := e.rawKV().DeleteRange(e.as(tok), &pb.DeleteRangeRequest{Key: []byte(e.k(k)), RangeEnd: rangeEnd(e, end)})
	e.rec("delete as user "+strconv.Quote(k)+"-"+strconv.Quote(end), r, err)
}

func (e *env) txnAs(tok, label string, t *pb.TxnRequest) {
	r, err := e.rawKV().Txn(e.as(tok), t)
	e.rec("txn as user "+label, r, err)
}

func rangeEnd(e *env, end string) []byte {
	switch end {
	case "":
		return nil
	case "\x00":
		return []byte{0}
	}
	return []byte(e.k(end))
}

// authReset brings the server back to no auth: disable as root, delete
// every user and role. Nothing is recorded.
func authReset(e *env) {
	ac := e.authc()
	if st, err := ac.AuthStatus(e.ctx, &pb.AuthStatusRequest{}); err == nil && st.Enabled {
		r, err := ac.Authenticate(e.ctx, &pb.AuthenticateRequest{Name: "root", Password: rootPW})
		if err != nil {
			e.t.Fatalf("auth reset: login root: %v", err)
		}
		if _, err := ac.AuthDisable(e.as(r.Token), &pb.AuthDisableRequest{}); err != nil {
			e.t.Fatalf("auth reset: disable: %v", err)
		}
	}
	users, err := ac.UserList(e.ctx, &pb.AuthUserListRequest{})
	if err != nil {
		e.t.Fatalf("auth reset: %v", err)
	}
	for _, u := range users.Users {
		if _, err := ac.UserDelete(e.ctx, &pb.AuthUserDeleteRequest{Name: u}); err != nil {
			e.t.Fatalf("auth reset: delete user %s: %v", u, err)
		}
	}
	roles, err := ac.RoleList(e.ctx, &pb.AuthRoleListRequest{})
	if err != nil {
		e.t.Fatalf("auth reset: %v", err)
	}
	for _, r := range roles.Roles {
		if _, err := ac.RoleDelete(e.ctx, &pb.AuthRoleDeleteRequest{Role: r}); err != nil {
			e.t.Fatalf("auth reset: delete role %s: %v", r, err)
		}
	}
}

// authCase wraps a case body between two resets.
func authCase(name string, run func(e *env)) tcase {
	return tcase{name: name, run: func(e *env) {
		authReset(e)
		run(e)
		authReset(e)
	}}
}

// withAlice enables auth with root and a user alice holding role "app";
// it returns root's and alice's tokens. perms are granted to app first.
func withAlice(e *env, perms func(rootTok string)) (rootTok, aliceTok string) {
	e.userAdd("", "alice", "apw")
	e.roleAdd("", "app")
	e.grantRole("", "alice", "app")
	perms("")
	rootTok = e.enableWithRoot()
	aliceTok = e.login("alice", "apw")
	return rootTok, aliceTok
}

func authCases() []tcase {
	rw, r, w := authpb.Permission_READWRITE, authpb.Permission_READ, authpb.Permission_WRITE
	ac := func(e *env) pb.AuthClient { return e.authc() }
	return []tcase{
		authCase("auth-status-disabled", func(e *env) { e.status("") }),
		authCase("auth-enable-without-root", func(e *env) {
			e.call("enable", func() (proto.Message, error) { return ac(e).AuthEnable(e.ctx, &pb.AuthEnableRequest{}) })
			e.status("")
		}),
		authCase("auth-enable-root-without-role", func(e *env) {
			e.userAdd("", "root", rootPW)
			e.call("enable", func() (proto.Message, error) { return ac(e).AuthEnable(e.ctx, &pb.AuthEnableRequest{}) })
		}),
		authCase("auth-enable-and-disable", func(e *env) {
			root := e.enableWithRoot()
			e.status("")
			e.status(root)
			e.call("enable again", func() (proto.Message, error) { return ac(e).AuthEnable(e.as(root), &pb.AuthEnableRequest{}) })
			e.call("disable anonymously", func() (proto.Message, error) { return ac(e).AuthDisable(e.ctx, &pb.AuthDisableRequest{}) })
			e.call("disable", func() (proto.Message, error) { return ac(e).AuthDisable(e.as(root), &pb.AuthDisableRequest{}) })
			e.status("")
		}),
		authCase("auth-disable-when-disabled", func(e *env) {
			e.call("disable", func() (proto.Message, error) { return ac(e).AuthDisable(e.ctx, &pb.AuthDisableRequest{}) })
		}),
		authCase("auth-user-add-get-list", func(e *env) {
			e.userAdd("", "bob", "b")
			e.userAdd("", "alice", "a")
			e.call("get bob", func() (proto.Message, error) { return ac(e).UserGet(e.ctx, &pb.AuthUserGetRequest{Name: "bob"}) })
			e.call("list", func() (proto.Message, error) { return ac(e).UserList(e.ctx, &pb.AuthUserListRequest{}) })
		}),
		authCase("auth-user-add-duplicate", func(e *env) {
			e.userAdd("", "bob", "b")
			e.userAdd("", "bob", "c")
		}),
		authCase("auth-user-add-empty-name", func(e *env) { e.userAdd("", "", "x") }),
		authCase("auth-user-add-no-password", func(e *env) {
			e.call("add", func() (proto.Message, error) {
				return ac(e).UserAdd(e.ctx, &pb.AuthUserAddRequest{Name: "cert", Options: &authpb.UserAddOptions{NoPassword: true}})
			})
			e.call("get", func() (proto.Message, error) { return ac(e).UserGet(e.ctx, &pb.AuthUserGetRequest{Name: "cert"}) })
		}),
		authCase("auth-user-get-missing", func(e *env) {
			e.call("get", func() (proto.Message, error) { return ac(e).UserGet(e.ctx, &pb.AuthUserGetRequest{Name: "nobody"}) })
		}),
		authCase("auth-user-delete", func(e *env) {
			e.userAdd("", "bob", "b")
			e.call("delete", func() (proto.Message, error) { return ac(e).UserDelete(e.ctx, &pb.AuthUserDeleteRequest{Name: "bob"}) })
			e.call("delete again", func() (proto.Message, error) { return ac(e).UserDelete(e.ctx, &pb.AuthUserDeleteRequest{Name: "bob"}) })
			e.call("list", func() (proto.Message, error) { return ac(e).UserList(e.ctx, &pb.AuthUserListRequest{}) })
		}),
		authCase("auth-user-change-password-missing", func(e *env) {
			e.call("change", func() (proto.Message, error) {
				return ac(e).UserChangePassword(e.ctx, &pb.AuthUserChangePasswordRequest{Name: "nobody", Password: "x"})
			})
		}),
		authCase("auth-user-grant-role-missing-user", func(e *env) {
			e.roleAdd("", "r1")
			e.grantRole("", "nobody", "r1")
		}),
		authCase("auth-user-grant-role-missing-role", func(e *env) {
			e.userAdd("", "bob", "b")
			e.grantRole("", "bob", "nope")
		}),
		authCase("auth-user-grant-role-twice-and-sorted", func(e *env) {
			e.userAdd("", "bob", "b")
			e.roleAdd("", "zeta")
			e.roleAdd("", "alpha")
			e.grantRole("", "bob", "zeta")
			e.grantRole("", "bob", "alpha")
			e.grantRole("", "bob", "zeta")
			e.call("get", func() (proto.Message, error) { return ac(e).UserGet(e.ctx, &pb.AuthUserGetRequest{Name: "bob"}) })
		}),
		authCase("auth-user-revoke-role", func(e *env) {
			e.userAdd("", "bob", "b")
			e.roleAdd("", "r1")
			e.grantRole("", "bob", "r1")
			rev := func(l string) {
				e.call(l, func() (proto.Message, error) {
					return ac(e).UserRevokeRole(e.ctx, &pb.AuthUserRevokeRoleRequest{Name: "bob", Role: "r1"})
				})
			}
			rev("revoke")
			rev("revoke again")
			e.call("revoke from nobody", func() (proto.Message, error) {
				return ac(e).UserRevokeRole(e.ctx, &pb.AuthUserRevokeRoleRequest{Name: "nobody", Role: "r1"})
			})
		}),
		authCase("auth-role-add-get-list", func(e *env) {
			e.roleAdd("", "b")
			e.roleAdd("", "a")
			e.call("get a", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "a"}) })
			e.call("list", func() (proto.Message, error) { return ac(e).RoleList(e.ctx, &pb.AuthRoleListRequest{}) })
		}),
		authCase("auth-role-add-duplicate-and-empty", func(e *env) {
			e.roleAdd("", "a")
			e.roleAdd("", "a")
			e.roleAdd("", "")
		}),
		authCase("auth-role-get-missing", func(e *env) {
			e.call("get", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "nope"}) })
			e.call("get root", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "root"}) })
		}),
		authCase("auth-role-root-get", func(e *env) {
			e.roleAdd("", "root")
			e.call("get root", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "root"}) })
		}),
		authCase("auth-role-delete-removes-grants", func(e *env) {
			e.userAdd("", "bob", "b")
			e.roleAdd("", "r1")
			e.roleAdd("", "r2")
			e.grantRole("", "bob", "r1")
			e.grantRole("", "bob", "r2")
			e.call("delete r1", func() (proto.Message, error) { return ac(e).RoleDelete(e.ctx, &pb.AuthRoleDeleteRequest{Role: "r1"}) })
			e.call("delete r1 again", func() (proto.Message, error) { return ac(e).RoleDelete(e.ctx, &pb.AuthRoleDeleteRequest{Role: "r1"}) })
			e.call("get bob", func() (proto.Message, error) { return ac(e).UserGet(e.ctx, &pb.AuthUserGetRequest{Name: "bob"}) })
		}),
		authCase("auth-role-grant-permissions-sorted", func(e *env) {
			e.roleAdd("", "r")
			e.grantPerm("", "r", r, "m", "")
			e.grantPerm("", "r", w, "a", "c")
			e.grantPerm("", "r", rw, "x/", "\x00")
			e.call("get", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "r"}) })
		}),
		authCase("auth-role-grant-permission-updates-type", func(e *env) {
			e.roleAdd("", "r")
			e.grantPerm("", "r", r, "a", "b")
			e.grantPerm("", "r", rw, "a", "b")
			e.grantPerm("", "r", w, "a", "")
			e.call("get", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "r"}) })
		}),
		authCase("auth-role-grant-permission-bad-range", func(e *env) {
			e.roleAdd("", "r")
			e.grantPerm("", "r", r, "b", "a")
			e.call("grant empty key", func() (proto.Message, error) {
				return ac(e).RoleGrantPermission(e.ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{}})
			})
			e.call("grant nothing", func() (proto.Message, error) {
				return ac(e).RoleGrantPermission(e.ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r"})
			})
		}),
		authCase("auth-role-grant-permission-missing-role", func(e *env) { e.grantPerm("", "nope", r, "a", "") }),
		authCase("auth-role-revoke-permission", func(e *env) {
			e.roleAdd("", "r")
			e.grantPerm("", "r", r, "a", "b")
			revoke := func(l, end string) {
				e.call(l, func() (proto.Message, error) {
					return ac(e).RoleRevokePermission(e.ctx, &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte(e.k("a")), RangeEnd: rangeEnd(e, end)})
				})
			}
			revoke("revoke wrong end", "c")
			revoke("revoke", "b")
			revoke("revoke again", "b")
			e.call("revoke on missing role", func() (proto.Message, error) {
				return ac(e).RoleRevokePermission(e.ctx, &pb.AuthRoleRevokePermissionRequest{Role: "nope", Key: []byte("a")})
			})
			e.call("get", func() (proto.Message, error) { return ac(e).RoleGet(e.ctx, &pb.AuthRoleGetRequest{Role: "r"}) })
		}),
		authCase("auth-authenticate-disabled", func(e *env) {
			e.userAdd("", "bob", "b")
			e.login("bob", "b")
		}),
		authCase("auth-authenticate-failures", func(e *env) {
			e.enableWithRoot()
			e.login("root", "wrong")
			e.login("nobody", "x")
			e.login("", "")
		}),
		authCase("auth-authenticate-no-password-user", func(e *env) {
			e.call("add", func() (proto.Message, error) {
				return ac(e).UserAdd(e.ctx, &pb.AuthUserAddRequest{Name: "cert", Options: &authpb.UserAddOptions{NoPassword: true}})
			})
			e.enableWithRoot()
			e.login("cert", "")
			e.login("cert", "anything")
		}),
		authCase("auth-anonymous-when-enabled", func(e *env) {
			e.put("k", "v")
			e.enableWithRoot()
			e.getAs("", "k", "")
			e.putAs("", "k", false)
			e.call("user list", func() (proto.Message, error) { return ac(e).UserList(e.ctx, &pb.AuthUserListRequest{}) })
		}),
		authCase("auth-invalid-token", func(e *env) {
			e.enableWithRoot()
			e.getAs("not-a-token", "k", "")
			e.putAs("not-a-token", "k", false)
		}),
		authCase("auth-root-can-do-anything", func(e *env) {
			root := e.enableWithRoot()
			e.putAs(root, "k", true)
			e.getAs(root, "k", "")
			e.delAs(root, "k", "")
			e.call("user list as root", func() (proto.Message, error) { return ac(e).UserList(e.as(root), &pb.AuthUserListRequest{}) })
		}),
		authCase("auth-read-only-key", func(e *env) {
			e.put("k", "v")
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", r, "k", "") })
			e.getAs(alice, "k", "")
			e.putAs(alice, "k", false)
			e.delAs(alice, "k", "")
			e.getAs(alice, "k2", "")
		}),
		authCase("auth-write-only-key", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", w, "k", "") })
			e.putAs(alice, "k", false)
			e.putAs(alice, "k", true) // prev_kv needs read
			e.getAs(alice, "k", "")
			e.delAs(alice, "k", "")
		}),
		authCase("auth-prefix-permission", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "p/", "p0") })
			e.putAs(alice, "p/1", false)
			e.putAs(alice, "p/2", false)
			e.getAs(alice, "p/", "p0")
			e.getAs(alice, "p/1", "p/3")
			e.getAs(alice, "p", "p0")
			e.getAs(alice, "p/", "\x00")
			e.delAs(alice, "p/", "p0")
			e.putAs(alice, "q", false)
		}),
		authCase("auth-open-ended-permission", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "m", "\x00") })
			e.putAs(alice, "z", false)
			e.getAs(alice, "m", "\x00")
			e.getAs(alice, "a", "\x00")
		}),
		authCase("auth-union-of-roles", func(e *env) {
			_, alice := withAlice(e, func(tok string) {
				e.roleAdd(tok, "more")
				e.grantRole(tok, "alice", "more")
				e.grantPerm(tok, "app", r, "a", "c")
				e.grantPerm(tok, "more", r, "c", "e")
			})
			e.getAs(alice, "a", "e")
			e.getAs(alice, "a", "f")
		}),
		authCase("auth-txn-checks-every-branch", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "a", "") })
			put := func(k string) *pb.RequestOp {
				return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(e.k(k)), Value: []byte("v")}}}
			}
			e.txnAs(alice, "then allowed", &pb.TxnRequest{Success: []*pb.RequestOp{put("a")}})
			e.txnAs(alice, "else denied", &pb.TxnRequest{Success: []*pb.RequestOp{put("a")}, Failure: []*pb.RequestOp{put("b")}})
			e.txnAs(alice, "compare denied", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte(e.k("b")), Target: pb.Compare_VERSION,
				Result: pb.Compare_EQUAL}}, Success: []*pb.RequestOp{put("a")}})
			e.txnAs(alice, "nested denied", &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{
				RequestTxn: &pb.TxnRequest{Failure: []*pb.RequestOp{put("b")}}}}}})
			e.get("a")
			e.get("b")
		}),
		authCase("auth-password-change-invalidates-token", func(e *env) {
			root, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "a", "") })
			e.putAs(alice, "a", false)
			e.call("change password", func() (proto.Message, error) {
				return ac(e).UserChangePassword(e.as(root), &pb.AuthUserChangePasswordRequest{Name: "alice", Password: "new"})
			})
			e.putAs(alice, "a", false)
			e.login("alice", "apw")
			alice = e.login("alice", "new")
			e.putAs(alice, "a", false)
		}),
		authCase("auth-role-change-makes-token-stale", func(e *env) {
			root, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "a", "") })
			e.roleAdd(root, "other")
			e.putAs(alice, "a", false)
			e.putAs(root, "a", false)
		}),
		authCase("auth-user-delete-invalidates", func(e *env) {
			root, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "a", "") })
			e.call("delete alice", func() (proto.Message, error) {
				return ac(e).UserDelete(e.as(root), &pb.AuthUserDeleteRequest{Name: "alice"})
			})
			e.getAs(alice, "a", "")
		}),
		authCase("auth-root-protected-when-enabled", func(e *env) {
			root := e.enableWithRoot()
			e.call("delete root", func() (proto.Message, error) {
				return ac(e).UserDelete(e.as(root), &pb.AuthUserDeleteRequest{Name: "root"})
			})
			e.call("revoke root role", func() (proto.Message, error) {
				return ac(e).UserRevokeRole(e.as(root), &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"})
			})
			e.call("delete root role", func() (proto.Message, error) {
				return ac(e).RoleDelete(e.as(root), &pb.AuthRoleDeleteRequest{Role: "root"})
			})
		}),
		authCase("auth-non-root-management-denied", func(e *env) {
			_, alice := withAlice(e, func(string) {})
			e.userAdd(alice, "eve", "x")
			e.roleAdd(alice, "r")
			e.call("user list", func() (proto.Message, error) { return ac(e).UserList(e.as(alice), &pb.AuthUserListRequest{}) })
			e.call("role list", func() (proto.Message, error) { return ac(e).RoleList(e.as(alice), &pb.AuthRoleListRequest{}) })
			e.call("disable", func() (proto.Message, error) { return ac(e).AuthDisable(e.as(alice), &pb.AuthDisableRequest{}) })
		}),
		authCase("auth-user-and-role-get-self", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.roleAdd(tok, "other") })
			e.call("get self", func() (proto.Message, error) {
				return ac(e).UserGet(e.as(alice), &pb.AuthUserGetRequest{Name: "alice"})
			})
			e.call("get root", func() (proto.Message, error) { return ac(e).UserGet(e.as(alice), &pb.AuthUserGetRequest{Name: "root"}) })
			e.call("get own role", func() (proto.Message, error) { return ac(e).RoleGet(e.as(alice), &pb.AuthRoleGetRequest{Role: "app"}) })
			e.call("get other role", func() (proto.Message, error) {
				return ac(e).RoleGet(e.as(alice), &pb.AuthRoleGetRequest{Role: "other"})
			})
		}),
		authCase("auth-compaction-root-only", func(e *env) {
			root, alice := withAlice(e, func(string) {})
			pr, err := e.rawKV().Put(e.as(root), &pb.PutRequest{Key: []byte(e.k("k")), Value: []byte("v")})
			if err != nil {
				e.t.Fatalf("put as root: %v", err)
			}
			rev := pr.Header.Revision
			cmp := func(label, tok string) {
				r, err := e.rawKV().Compact(e.as(tok), &pb.CompactionRequest{Revision: rev})
				e.rec(label, r, err)
			}
			cmp("compact as alice", alice)
			cmp("compact anonymously", "")
			cmp("compact as root", root)
		}),
		authCase("auth-lease-revoke-needs-write-on-keys", func(e *env) {
			root, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", rw, "a", "") })
			lc := pb.NewLeaseClient(e.rawConn())
			g, err := lc.LeaseGrant(e.as(root), &pb.LeaseGrantRequest{ID: 0x7a01, TTL: 60})
			e.rec("grant", g, err)
			r1, err := e.rawKV().Put(e.as(root), &pb.PutRequest{Key: []byte(e.k("b")), Value: []byte("v"), Lease: 0x7a01})
			e.rec("put b on lease", r1, err)
			rv, err := lc.LeaseRevoke(e.as(alice), &pb.LeaseRevokeRequest{ID: 0x7a01})
			e.rec("revoke as alice", rv, err)
			rv, err = lc.LeaseRevoke(e.ctx, &pb.LeaseRevokeRequest{ID: 0x7a01})
			e.rec("revoke anonymously", rv, err)
			rv, err = lc.LeaseRevoke(e.as(root), &pb.LeaseRevokeRequest{ID: 0x7a01})
			e.rec("revoke as root", rv, err)
		}),
		authCase("auth-lease-and-member-calls-need-a-user", func(e *env) {
			root, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", r, "a", "") })
			lc := pb.NewLeaseClient(e.rawConn())
			cc := pb.NewClusterClient(e.rawConn())
			g, err := lc.LeaseGrant(e.ctx, &pb.LeaseGrantRequest{ID: 0x7a02, TTL: 60})
			e.rec("grant anonymously", g, err)
			g, err = lc.LeaseGrant(e.as(root), &pb.LeaseGrantRequest{ID: 0x7a02, TTL: 60})
			e.rec("grant as root", g, err)
			p, err := e.rawKV().Put(e.as(root), &pb.PutRequest{Key: []byte(e.k("b")), Value: []byte("v"), Lease: 0x7a02})
			e.rec("put b on lease", p, err)
			for _, c := range []struct{ label, tok string }{{"anonymous", ""}, {"alice", alice}, {"root", root}} {
				_, err := lc.LeaseTimeToLive(e.as(c.tok), &pb.LeaseTimeToLiveRequest{ID: 0x7a02})
				e.note("timetolive as %s: %s", c.label, errOrOK(err))
				_, err = lc.LeaseTimeToLive(e.as(c.tok), &pb.LeaseTimeToLiveRequest{ID: 0x7a02, Keys: true})
				e.note("timetolive keys as %s: %s", c.label, errOrOK(err))
				_, err = lc.LeaseLeases(e.as(c.tok), &pb.LeaseLeasesRequest{})
				e.note("leases as %s: %s", c.label, errOrOK(err))
				_, err = cc.MemberList(e.as(c.tok), &pb.MemberListRequest{})
				e.note("member list as %s: %s", c.label, errOrOK(err))
			}
			rv, err := lc.LeaseRevoke(e.as(root), &pb.LeaseRevokeRequest{ID: 0x7a02})
			e.rec("revoke as root", rv, err)
		}),
		authCase("auth-maintenance-root-only", func(e *env) {
			root, alice := withAlice(e, func(string) {})
			mc := pb.NewMaintenanceClient(e.rawConn())
			for _, c := range []struct{ label, tok string }{{"alice", alice}, {"anonymous", ""}, {"root", root}} {
				_, err := mc.Defragment(e.as(c.tok), &pb.DefragmentRequest{})
				e.note("defragment as %s: %v", c.label, errOrOK(err))
				_, err = mc.Hash(e.as(c.tok), &pb.HashRequest{})
				e.note("hash as %s: %v", c.label, errOrOK(err))
				_, err = mc.Alarm(e.as(c.tok), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
				e.note("alarm get as %s: %v", c.label, errOrOK(err))
				_, err = mc.Status(e.as(c.tok), &pb.StatusRequest{})
				e.note("status as %s: %v", c.label, errOrOK(err))
			}
		}),
		authCase("auth-watch-needs-read", func(e *env) {
			_, alice := withAlice(e, func(tok string) { e.grantPerm(tok, "app", r, "a", "") })
			wc := pb.NewWatchClient(e.rawConn())
			for _, c := range []struct{ label, tok, key string }{{"allowed", alice, "a"}, {"denied", alice, "b"}, {"anonymous", "", "a"}} {
				ctx, cancel := context.WithCancel(e.as(c.tok))
				s, err := wc.Watch(ctx)
				if err == nil {
					err = s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(e.k(c.key))}}})
				}
				var resp *pb.WatchResponse
				if err == nil {
					resp, err = s.Recv()
				}
				if err != nil {
					e.rec("watch "+c.label, nil, err)
				} else {
					e.note("watch %s: created=%v canceled=%v reason=%q", c.label, resp.Created, resp.Canceled, resp.CancelReason)
				}
				cancel()
			}
		}),
		authCase("auth-status-revision-moves", func(e *env) {
			e.call("status", func() (proto.Message, error) { return ac(e).AuthStatus(e.ctx, &pb.AuthStatusRequest{}) })
			e.userAdd("", "u", "p")
			e.call("status after user add", func() (proto.Message, error) { return ac(e).AuthStatus(e.ctx, &pb.AuthStatusRequest{}) })
			e.roleAdd("", "r")
			e.grantRole("", "u", "r")
			e.call("status after grants", func() (proto.Message, error) { return ac(e).AuthStatus(e.ctx, &pb.AuthStatusRequest{}) })
		}),
	}
}

func errOrOK(err error) string {
	if err != nil {
		return errText(err)
	}
	return "ok"
}

var _ = clientv3.WithPrefix
