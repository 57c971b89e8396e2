package mvcc

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/auth"
	"metastore/engines/memory"
)

// as applies req with the given user and auth revision in its header.
func (h *harness) as(user string, rev uint64, req *pb.InternalRaftRequest) Result {
	req.Header = &pb.RequestHeader{Username: user, AuthRevision: rev}
	return h.apply(req)
}

func (h *harness) mustAuth(user string, req *pb.InternalRaftRequest) {
	h.t.Helper()
	if r := h.as(user, h.s.Auth().Revision(), req); r.Err != nil {
		h.t.Fatalf("%v: %v", req, r.Err)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: err %v, want %v", what, got, want)
	}
}

// setupAuth makes root (with the root role) and alice, who may read and
// write the prefix "a/" and read the key "r", then enables auth.
func setupAuth(t *testing.T, h *harness) {
	t.Helper()
	wantErr(t, "enable without root", h.apply(&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}).Err, auth.ErrRootUserNotExist)
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: "aA=="}})
	wantErr(t, "enable without the root role", h.apply(&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}).Err, auth.ErrRootRoleNotExist)
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: "aA=="}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "app"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app",
		Perm: &authpb.Permission{PermType: authpb.Permission_READWRITE, Key: []byte("a/"), RangeEnd: []byte("a0")}}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app",
		Perm: &authpb.Permission{PermType: authpb.Permission_READ, Key: []byte("r")}}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "app"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
}

func TestAuthDeniedWritesChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.put("r", "1")
	setupAuth(t, h)
	rev := h.s.Auth().Revision()
	hash, _, _, _ := h.s.HashKV(0)
	kvRev := h.s.Rev()

	put := func(k string, prevKV bool) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte("v"), PrevKv: prevKV}}
	}
	for _, c := range []struct {
		name string
		user string
		rev  uint64
		req  *pb.InternalRaftRequest
		want error
	}{
		{"no user", "", 0, put("a/x", false), auth.ErrUserEmpty},
		{"stale revision", "alice", rev - 1, put("a/x", false), auth.ErrAuthOldRevision},
		{"outside the prefix", "alice", rev, put("b", false), auth.ErrPermissionDenied},
		{"read-only key", "alice", rev, put("r", false), auth.ErrPermissionDenied},
		{"delete beyond the prefix", "alice", rev, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: []byte("b")}}, auth.ErrPermissionDenied},
		{"range beyond the prefix", "alice", rev, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("a0")}}, auth.ErrPermissionDenied},
		{"txn whose other branch writes elsewhere", "alice", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a/ok")}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("z")}}}},
		}}, auth.ErrPermissionDenied},
		{"txn comparing an unreadable key", "alice", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("z"), Target: pb.Compare_VERSION}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a/ok")}}}},
		}}, auth.ErrPermissionDenied},
		{"user management by a non-root user", "alice", rev, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "eve"}}, auth.ErrPermissionDenied},
		{"delete root while enabled", "root", rev, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}, auth.ErrInvalidAuthMgmt},
		{"revoke root's root role", "root", rev, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}}, auth.ErrInvalidAuthMgmt},
	} {
		wantErr(t, c.name, h.as(c.user, c.rev, c.req).Err, c.want)
	}
	if got, _, _, _ := h.s.HashKV(0); got != hash || h.s.Rev() != kvRev || h.s.Auth().Revision() != rev {
		t.Fatal("a denied request changed the store")
	}
	// Allowed: inside the prefix, reading r, root anywhere.
	for _, c := range []struct {
		user string
		req  *pb.InternalRaftRequest
	}{
		{"alice", put("a/x", true)},
		{"alice", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("r")}}},
		{"alice", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: []byte("a0")}}},
		{"root", put("anything", false)},
		{"alice", &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}},
		{"alice", &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "app"}}},
	} {
		if r := h.as(c.user, rev, c.req); r.Err != nil {
			t.Fatalf("%s %v: %v", c.user, c.req, r.Err)
		}
	}
	wantErr(t, "alice reads another user", h.as("alice", rev, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "root"}}).Err, auth.ErrPermissionDenied)
}

func TestAuthRevisionAndTokens(t *testing.T) {
	h := newHarness(t)
	setupAuth(t, h)
	rev := h.s.Auth().Revision()
	r := h.as("", rev, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "tok"}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	tok := r.Resp.(*pb.AuthenticateResponse).Token
	if got, ok := h.s.Auth().Token(tok); !ok || got.User != "alice" || got.Revision != rev {
		t.Fatalf("token %q: %+v %v", tok, got, ok)
	}
	// A password change bumps the revision and drops the user's tokens.
	h.mustAuth("root", &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", HashedPassword: "aDI="}})
	if h.s.Auth().Revision() != rev+1 {
		t.Fatalf("revision %d after a password change, want %d", h.s.Auth().Revision(), rev+1)
	}
	if _, ok := h.s.Auth().Token(tok); ok {
		t.Fatal("the token outlived a password change")
	}
	// A password checked at an older revision gets no token.
	wantErr(t, "authenticate at an old revision", h.as("", rev, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "t2"}}).Err, auth.ErrAuthOldRevision)
	wantErr(t, "authenticate a missing user", h.as("", rev+1, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "bob", SimpleToken: "t3"}}).Err, auth.ErrAuthFailed)
}

// TestAuthSurvivesRestartAndSnapshot: the state is in the engine, and a
// snapshot carries it; HashKV ignores it.
func TestAuthSurvivesRestartAndSnapshot(t *testing.T) {
	eng := memory.New()
	s, err := Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s}
	h.put("k", "v")
	kvHash, _, _, _ := h.s.HashKV(0)
	setupAuth(t, h)
	if got, _, _, _ := h.s.HashKV(0); got != kvHash {
		t.Fatal("auth changes moved HashKV")
	}
	check := func(what string, s *Store) {
		t.Helper()
		a := s.Auth()
		if !a.Enabled() || a.Revision() != h.s.Auth().Revision() || a.User("alice") == nil ||
			a.CheckWrite("alice", a.Revision(), []byte("a/1"), nil) != nil ||
			a.CheckWrite("alice", a.Revision(), []byte("b"), nil) == nil {
			t.Fatalf("%s lost the auth state", what)
		}
	}
	again, err := Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	check("a reopened store", again)
	snap, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newStore(t)
	if err := other.Restore(snap); err != nil {
		t.Fatal(err)
	}
	check("a restored store", other)
	if other.Hash() != h.s.Hash() {
		t.Fatal("restored store hashes differently")
	}
}

func TestPermissionSpans(t *testing.T) {
	h := newHarness(t)
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "u"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "r"}})
	grant := func(key, end string, typ authpb.Permission_Type) {
		h.mustAuth("", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r",
			Perm: &authpb.Permission{PermType: typ, Key: []byte(key), RangeEnd: []byte(end)}}})
	}
	grant("a", "c", authpb.Permission_READ)
	grant("c", "e", authpb.Permission_READ) // adjacent: [a, e) readable
	grant("x", "\x00", authpb.Permission_WRITE)
	grant("k", "", authpb.Permission_WRITE)
	wantErr(t, "bad range", h.as("", 1, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r",
		Perm: &authpb.Permission{Key: []byte("b"), RangeEnd: []byte("a")}}}).Err, auth.ErrInvalidAuthMgmt)
	h.mustAuth("", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "u", Role: "r"}})
	h.mustAuth("", &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
	a := h.s.Auth()
	rev := a.Revision()
	for _, c := range []struct {
		key, end string
		write    bool
		ok       bool
	}{
		{"a", "", false, true}, {"b", "d", false, true}, {"a", "e", false, true}, {"a", "f", false, false},
		{"d", "\x00", false, false}, {"x", "\x00", true, true}, {"zz", "", true, true}, {"w", "y", true, false},
		{"k", "", true, true}, {"k", "k\x00", true, true}, {"k", "l", true, false}, {"a", "", true, false},
	} {
		var err error
		if c.write {
			err = a.CheckWrite("u", rev, []byte(c.key), []byte(c.end))
		} else {
			err = a.CheckRange("u", rev, []byte(c.key), []byte(c.end))
		}
		if (err == nil) != c.ok {
			t.Errorf("[%q, %q) write=%v: err %v, want ok=%v", c.key, c.end, c.write, err, c.ok)
		}
	}
}
