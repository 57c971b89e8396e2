package server

import (
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/metadata"

	"metastore/core"
)

// TestCallerIsReadOnceAuthIsOn: a request that finds auth off leaves its
// caller unread, and resolve reads it if auth came on meanwhile, so a
// token that is valid by then still speaks for its user.
func TestCallerIsReadOnceAuthIsOn(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	if c := m.srv.callerOf(ctx); c.unread == nil {
		t.Fatalf("auth off: caller %+v was read", c)
	}
	if _, err := m.cli.UserAdd(ctx, "root", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	auth, err := m.cli.Authenticate(ctx, "root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	withToken := metadata.NewIncomingContext(ctx, metadata.Pairs(rpctypes.TokenFieldNameGRPC, auth.Token))
	for _, tc := range []struct {
		name string
		c    caller
		want string
	}{
		{"unread, with a token", caller{unread: withToken}, "root"},
		{"unread, anonymous", caller{unread: ctx}, ""},
		{"read while auth was on", m.srv.callerOf(withToken), "root"},
	} {
		var user string
		var rerr error
		if err := m.node.exec(ctx, m.srv.cfg.RequestTimeout, func(r *core.Replica) {
			user, _, rerr = m.srv.resolve(r, tc.c)
		}); err != nil {
			t.Fatal(err)
		}
		if rerr != nil || user != tc.want {
			t.Errorf("%s: resolved to %q, %v; want %q", tc.name, user, rerr, tc.want)
		}
	}
}
