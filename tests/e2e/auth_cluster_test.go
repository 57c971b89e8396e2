package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAuthClusterSurvivesKills: a three-member cluster with auth on loses
// each member in turn to SIGKILL; after every restart every member still
// knows the users, roles and permissions, and enforces them. A small
// snapshot count makes restarts recover the auth state from a snapshot as
// well as from the log.
func TestAuthClusterSurvivesKills(t *testing.T) {
	c := newClusterTLS(t, 3, &clusterTLS{rootPassword: e2eRootPW}, "--bcrypt-cost=4", "--snapshot-count=20",
		"--heartbeat-interval=20", "--election-timeout=200")
	eps := c.endpoints()
	setupAuthUsers(t, eps[:1])
	root, alice := "--user=root:"+e2eRootPW, "--user=alice:apw"
	for i, m := range c.members {
		// Writes while the member is down, so it must catch up.
		c.kill(m)
		var up []string
		for _, o := range c.members {
			if o != m {
				up = append(up, o.client)
			}
		}
		for j := range 30 {
			ctl(t, up[:1], "", alice, "put", fmt.Sprintf("app/k%d", j), fmt.Sprint(i))
		}
		ctl(t, up[:1], "", root, "role", "grant-permission", "app", "read", fmt.Sprintf("extra%d", i))
		c.start(m)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := c.waitLeader(ctx, c.members)
		cancel()
		if err != nil {
			t.Fatalf("after restarting %s: %v", m.name, err)
		}
		for _, o := range c.members {
			ep := []string{o.client}
			wantLines(t, o.name+" user list", ctl(t, ep, "", root, "user", "list"), "alice", "root")
			wantLines(t, o.name+" user get", ctl(t, ep, "", root, "user", "get", "alice"), "User: alice", "Roles: app")
			want := []string{"Role app", "KV Read:", "[app/, app0) (prefix app/)"}
			for k := 0; k <= i; k++ {
				want = append(want, fmt.Sprintf("extra%d", k))
			}
			want = append(want, "shared", "KV Write:", "[app/, app0) (prefix app/)")
			wantLines(t, o.name+" role get", ctl(t, ep, "", root, "role", "get", "app"), want...)
			// Enforced from the member's own state: a serializable read.
			wantLines(t, o.name+" alice reads", ctl(t, ep, "", alice, "get", "app/k0", "--consistency=s", "--print-value-only"), fmt.Sprint(i))
			denied(t, ep, errDenied, alice, "get", "other", "--consistency=s")
			denied(t, ep, "user name is empty", "get", "app/k0", "--consistency=s")
		}
	}
}
