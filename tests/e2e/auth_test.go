package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
)

const e2eRootPW = "rootpw"

// setupAuthUsers makes, with etcdctl, root (root role), the role "app"
// (readwrite on the prefix app/, read on the key shared) and the user
// alice holding it; then enables auth.
func setupAuthUsers(t *testing.T, eps []string, tlsArgs ...string) {
	t.Helper()
	run := func(args ...string) { ctl(t, eps, "", append(tlsArgs, args...)...) }
	run("user", "add", "root:"+e2eRootPW)
	run("user", "grant-role", "root", "root")
	run("role", "add", "app")
	run("role", "grant-permission", "app", "readwrite", "app/", "--prefix")
	run("role", "grant-permission", "app", "read", "shared")
	run("user", "add", "alice:apw")
	run("user", "grant-role", "alice", "app")
	wantLines(t, "auth enable", ctl(t, eps, "", append(tlsArgs, "auth", "enable")...), "Authentication Enabled")
}

// denied runs etcdctl expecting etcd's error text want on stderr.
func denied(t *testing.T, eps []string, want string, args ...string) {
	t.Helper()
	ctlFails(t, eps, want, args...)
}

const errDenied = "etcdserver: permission denied"

// TestAuthEtcdctl drives users, roles and permissions with the real
// etcdctl on one member and checks every allowed and denied call.
func TestAuthEtcdctl(t *testing.T) {
	c := newClusterTLS(t, 1, &clusterTLS{rootPassword: e2eRootPW}, "--bcrypt-cost=4", "--auth-token-ttl=2")
	eps := c.endpoints()
	ctl(t, eps, "", "put", "shared", "s")
	denied(t, eps, "Error: etcdserver: root user does not exist", "auth", "enable")
	setupAuthUsers(t, eps)
	root, alice := "--user=root:"+e2eRootPW, "--user=alice:apw"

	t.Run("status_and_lists", func(t *testing.T) {
		out := ctl(t, eps, "", root, "auth", "status")
		if !strings.Contains(out, "Authentication Status: true") {
			t.Fatalf("auth status: %q", out)
		}
		wantLines(t, "user list", ctl(t, eps, "", root, "user", "list"), "alice", "root")
		// NB: granting the root role needs no role named root, as in etcd.
		wantLines(t, "role list", ctl(t, eps, "", root, "role", "list"), "app")
		wantLines(t, "user get", ctl(t, eps, "", root, "user", "get", "alice"), "User: alice", "Roles: app")
		wantLines(t, "role get", ctl(t, eps, "", root, "role", "get", "app"),
			"Role app", "KV Read:", "[app/, app0) (prefix app/)", "shared", "KV Write:", "[app/, app0) (prefix app/)")
		denied(t, eps, errDenied, alice, "user", "list")
		denied(t, eps, "etcdserver: user name is empty", "get", "shared")
		denied(t, eps, "etcdserver: authentication failed, invalid user ID or password", "--user=alice:wrong", "get", "shared")
	})

	t.Run("get_put_del", func(t *testing.T) {
		ctl(t, eps, "", alice, "put", "app/x", "1")
		wantLines(t, "get app/x", ctl(t, eps, "", alice, "get", "app/x"), "app/x", "1")
		wantLines(t, "get prefix", ctl(t, eps, "", alice, "get", "app/", "--prefix"), "app/x", "1")
		wantLines(t, "get shared", ctl(t, eps, "", alice, "get", "shared"), "shared", "s")
		denied(t, eps, errDenied, alice, "put", "shared", "x")
		denied(t, eps, errDenied, alice, "put", "other", "x")
		denied(t, eps, errDenied, alice, "get", "other")
		denied(t, eps, errDenied, alice, "get", "", "--prefix")
		denied(t, eps, errDenied, alice, "del", "shared")
		wantLines(t, "del app/x", ctl(t, eps, "", alice, "del", "app/x"), "1")
		// A denial changed nothing.
		wantLines(t, "shared as root", ctl(t, eps, "", root, "get", "shared"), "shared", "s")
	})

	t.Run("txn", func(t *testing.T) {
		// Both branches inside the prefix: allowed.
		out := ctl(t, eps, "\nput app/t 1\n\nput app/f 1\n\n", alice, "txn")
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("txn: %q", out)
		}
		// The failure branch, which would not run, writes outside: denied.
		out2, errOut, err := ctlRun(eps, "\nput app/t 2\n\nput other 1\n\n", alice, "txn")
		if err == nil || !strings.Contains(errOut, errDenied) {
			t.Fatalf("txn touching other: err %v, %q %q", err, out2, errOut)
		}
		wantLines(t, "app/t unchanged", ctl(t, eps, "", alice, "get", "app/t", "--print-value-only"), "1")
	})

	t.Run("watch", func(t *testing.T) {
		// Watching from revision 1 replays the put: no race with creation.
		ctl(t, eps, "", alice, "put", "app/w", "v")
		w := startCtl(t, eps, alice, "watch", "--rev=1", "app/w")
		if got := w.next(t, 10*time.Second); got != "PUT" {
			t.Fatalf("watch printed %q, want PUT", got)
		}
		bad := startCtl(t, eps, alice, "watch", "other")
		select {
		case <-bad.done:
		case <-time.After(10 * time.Second):
			t.Fatal("a denied watch kept running")
		}
		if !strings.Contains(bad.stderr.String(), "permission denied") {
			t.Fatalf("denied watch said %q", bad.stderr.String())
		}
	})

	t.Run("root_only", func(t *testing.T) {
		denied(t, eps, errDenied, alice, "compaction", "1")
		denied(t, eps, errDenied, alice, "defrag")
		denied(t, eps, errDenied, alice, "member", "add", "x", "--peer-urls=http://127.0.0.1:1")
		denied(t, eps, errDenied, alice, "snapshot", "save", filepath.Join(t.TempDir(), "s.db"))
		denied(t, eps, errDenied, alice, "move-leader", "1")
		denied(t, eps, errDenied, alice, "auth", "disable")
		ctl(t, eps, "", root, "snapshot", "save", filepath.Join(t.TempDir(), "s.db"))
		ctl(t, eps, "", root, "compaction", "1")
	})

	t.Run("token_invalidated_by_password_change", func(t *testing.T) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, Username: "alice", Password: "apw",
			DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, "app/p", "1"); err != nil {
			t.Fatal(err)
		}
		ctl(t, eps, "apw2\n", root, "user", "passwd", "alice", "--interactive=false")
		// The client's token died with the old password; clientv3 logs in
		// again with the old one, which fails.
		_, err = cli.Put(ctx, "app/p", "2")
		if !errors.Is(err, rpctypes.ErrAuthFailed) {
			t.Fatalf("put with a token from before the password change: %v, want %v", err, rpctypes.ErrAuthFailed)
		}
		ctl(t, eps, "", "--user=alice:apw2", "put", "app/p", "3")
		denied(t, eps, "authentication failed", alice, "get", "app/p")
	})

	t.Run("token_expires_after_ttl", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		resp, err := cli.Authenticate(ctx, "root", e2eRootPW)
		if err != nil {
			t.Fatal(err)
		}
		raw := clientv3.NewKVFromKVClient(pbKV(cli), nil)
		tctx := withToken(ctx, resp.Token)
		if _, err := raw.Get(tctx, "shared"); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		time.Sleep(3 * time.Second) // --auth-token-ttl=2 without use
		if _, err := raw.Get(tctx, "shared"); !errors.Is(err, rpctypes.ErrInvalidAuthToken) {
			t.Fatalf("idle token: %v, want %v", err, rpctypes.ErrInvalidAuthToken)
		}
	})
}

// TestAuthCommonName: with --client-cert-auth, a client certificate's CN
// logs in as that user, no password needed.
func TestAuthCommonName(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true, clientCertAuth: true, rootPassword: e2eRootPW})
	c := newClusterTLS(t, 1, sec, "--bcrypt-cost=4")
	eps := httpsEps(c)
	ca := []string{"--cacert=" + sec.server.CA}
	setupAuthUsers(t, eps, sec.ctlTLS()...)
	// The certificate with CN=root is root.
	ctl(t, eps, "", append(sec.ctlTLS(), "put", "anything", "1")...)
	dir := t.TempDir()
	al, err := sec.ca.WriteFiles(dir, "alice", "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := sec.ca.WriteFiles(dir, "bob", "bob")
	if err != nil {
		t.Fatal(err)
	}
	asAlice := append(ca, "--cert="+al.Cert, "--key="+al.Key)
	ctl(t, eps, "", append(asAlice, "put", "app/cn", "1")...)
	denied(t, eps, errDenied, append(asAlice, "put", "other", "1")...)
	// A CN that names no user has no rights.
	denied(t, eps, errDenied, append(ca, "--cert="+bob.Cert, "--key="+bob.Key, "get", "app/cn")...)
	// A password login still wins over the certificate's CN.
	denied(t, eps, errDenied, append(sec.ctlTLS(), "--user=alice:apw", "put", "other", "1")...)
}

// TestAuthJWT: --auth-token jwt signs tokens the member verifies.
func TestAuthJWT(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	priv, pubf := filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubf, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClusterTLS(t, 1, &clusterTLS{rootPassword: e2eRootPW}, "--bcrypt-cost=4",
		"--auth-token=jwt,pub-key="+pubf+",priv-key="+priv+",sign-method=ES256,ttl=1m")
	eps := c.endpoints()
	setupAuthUsers(t, eps)
	ctl(t, eps, "", "--user=alice:apw", "put", "app/j", "1")
	denied(t, eps, errDenied, "--user=alice:apw", "put", "other", "1")
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Authenticate(ctx, "alice", "apw")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(resp.Token, ".") != 2 {
		t.Fatalf("token %q is not a JWT", resp.Token)
	}
	raw := clientv3.NewKVFromKVClient(pbKV(cli), nil)
	if _, err := raw.Get(withToken(ctx, resp.Token), "app/j"); err != nil {
		t.Fatalf("get with the JWT: %v", err)
	}
	forged := resp.Token[:len(resp.Token)-4] + "AAAA"
	if _, err := raw.Get(withToken(ctx, forged), "app/j"); !errors.Is(err, rpctypes.ErrInvalidAuthToken) {
		t.Fatalf("forged JWT: %v", err)
	}
}

// pbKV is the client's raw KV API (no token of its own).
func pbKV(c *clientv3.Client) pb.KVClient { return pb.NewKVClient(c.ActiveConnection()) }

// withToken carries token as etcd's "token" metadata.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, token)
}
