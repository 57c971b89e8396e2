package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"metastore/net/config"
)

// The partition tests run the scenarios P1 and P4 (scenarios/) on real
// processes: three metastore members whose peer links all pass through
// peerNet, with a fast tick so 20 election timeouts last seconds.
const (
	heartbeatMs = 50  // the tick
	electionMs  = 500 // E = 10 ticks
	electionE   = electionMs * time.Millisecond
)

// proxiedCluster is a cluster whose every peer link crosses peerNet.
type proxiedCluster struct {
	*cluster
	net *peerNet
	ids map[*member]uint64
}

// newProxiedCluster starts n members like newCluster, each behind a peer
// proxy: the proxy's address is the member's advertised peer URL (so its
// member ID and every peer's view of it are the usual ones), the member
// listens on another port behind it.
func newProxiedCluster(t *testing.T, n int, args ...string) *proxiedCluster {
	t.Helper()
	base := t.TempDir()
	ports := freePorts(t, 4*n)
	pn := newPeerNet(t) // registered first, so it closes after the members stop
	c := &cluster{t: t, token: "e2e-" + sanitize(t.Name()), args: args}
	pc := &proxiedCluster{cluster: c, net: pn, ids: map[*member]uint64{}}
	var peers []string
	for i := range n {
		m := &member{
			name:       fmt.Sprintf("m%d", i+1),
			client:     fmt.Sprintf("127.0.0.1:%d", ports[4*i]),
			peer:       fmt.Sprintf("127.0.0.1:%d", ports[4*i+1]),
			peerListen: fmt.Sprintf("127.0.0.1:%d", ports[4*i+2]),
			metrics:    fmt.Sprintf("127.0.0.1:%d", ports[4*i+3]),
		}
		m.dataDir = base + "/" + m.name
		m.logPath = base + "/" + m.name + ".log"
		c.members = append(c.members, m)
		peers = append(peers, m.name+"=http://"+m.peer)
	}
	c.initial = strings.Join(peers, ",")
	t.Cleanup(c.cleanup)
	for _, m := range c.members {
		pc.ids[m] = config.MemberID(m.name, []string{"http://" + m.peer}, c.token)
		pn.listen(t, m.peer, m.peerListen, pc.ids[m])
	}
	for _, m := range c.members {
		c.start(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.waitLeader(ctx, c.members); err != nil {
		t.Fatalf("proxied cluster of %d never agreed on a leader: %v", n, err)
	}
	if err := c.waitPublished(ctx); err != nil {
		t.Fatalf("proxied cluster of %d: members never published their attributes: %v", n, err)
	}
	for _, m := range c.members {
		st, err := c.status(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId != pc.ids[m] {
			t.Fatalf("%s reports member ID %x, the proxy expects %x", m.name, st.Header.MemberId, pc.ids[m])
		}
	}
	return pc
}

// allIDs lists every member's ID.
func (pc *proxiedCluster) allIDs() []uint64 {
	var out []uint64
	for _, m := range pc.members {
		out = append(out, pc.ids[m])
	}
	return out
}

// others lists the members other than m.
func (pc *proxiedCluster) others(m *member) []*member {
	return slices.DeleteFunc(slices.Clone(pc.members), func(x *member) bool { return x == m })
}

// mustStatus is Status with the test failed on error.
func (pc *proxiedCluster) mustStatus(ctx context.Context, m *member) (term, leader, index uint64) {
	pc.t.Helper()
	st, err := pc.status(ctx, m)
	if err != nil {
		pc.t.Fatalf("status of %s: %v", m.name, err)
	}
	return st.RaftTerm, st.Leader, st.RaftIndex
}

// TestPartitionIsolatedFollowerRejoinsWithoutElection is P1 on real
// binaries: a follower cut off from both peers for 20 election timeouts
// never raises its term (PreVote: it never becomes a candidate), and when
// it is healed there is no election: the same leader, the same term.
func TestPartitionIsolatedFollowerRejoinsWithoutElection(t *testing.T) {
	pc := newProxiedCluster(t, 3, fmt.Sprintf("--heartbeat-interval=%d", heartbeatMs), fmt.Sprintf("--election-timeout=%d", electionMs))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lead, err := pc.waitLeader(ctx, pc.members)
	if err != nil {
		t.Fatal(err)
	}
	term, leaderID, _ := pc.mustStatus(ctx, lead)
	f := pc.others(lead)[0]
	t.Logf("isolate follower %s of leader %s (term %d) for 20E = %v", f.name, lead.name, term, 20*electionE)
	pc.net.isolate(pc.ids[f], pc.allIDs())

	cli := pc.client(lead.client)
	acked := 0
	maxTerm := term
	for end := time.Now().Add(20 * electionE); time.Now().Before(end); {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := cli.Put(wctx, fmt.Sprintf("p1/k%d", acked), "v"); err != nil {
			t.Fatalf("write through leader %s while %s is cut off: %v", lead.name, f.name, err)
		}
		wcancel()
		acked++
		ft, _, _ := pc.mustStatus(ctx, f)
		maxTerm = max(maxTerm, ft)
		time.Sleep(100 * time.Millisecond)
	}
	if maxTerm != term {
		t.Fatalf("P1: the isolated follower %s raised its term from %d to %d (PreVote should keep it from campaigning)", f.name, term, maxTerm)
	}

	_, _, leadIndex := pc.mustStatus(ctx, lead)
	if _, _, idx := pc.mustStatus(ctx, f); idx >= leadIndex {
		t.Fatalf("the cut-off follower %s is at index %d, the leader at %d: the proxy did not cut it off", f.name, idx, leadIndex)
	}
	pc.net.heal()
	healed := time.Now()
	for {
		_, _, idx := pc.mustStatus(ctx, f)
		if idx >= leadIndex {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never caught up after the heal (index %d < %d)", f.name, idx, leadIndex)
		}
		time.Sleep(50 * time.Millisecond)
	}
	caughtUp := time.Since(healed)
	time.Sleep(2 * electionE) // room for a disruption to show
	for _, m := range pc.members {
		mt, ml, _ := pc.mustStatus(ctx, m)
		if mt != term || ml != leaderID {
			t.Fatalf("P1: after the heal %s reports term %d leader %x; want term %d leader %x (no election)", m.name, mt, ml, term, leaderID)
		}
	}
	t.Logf("P1: %d writes acknowledged while cut off; follower term stayed %d; caught up %v after the heal; leader and term unchanged",
		acked, term, caughtUp.Round(time.Millisecond))
}

// TestPartitionIsolatedLeaderStepsDown is P4 on real binaries: a leader
// cut off from both peers steps down (CheckQuorum), the other two elect a
// new leader in a higher term, and the old leader acknowledges no write
// sent to it after its isolation.
func TestPartitionIsolatedLeaderStepsDown(t *testing.T) {
	pc := newProxiedCluster(t, 3, fmt.Sprintf("--heartbeat-interval=%d", heartbeatMs), fmt.Sprintf("--election-timeout=%d", electionMs))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old, err := pc.waitLeader(ctx, pc.members)
	if err != nil {
		t.Fatal(err)
	}
	term, oldID, _ := pc.mustStatus(ctx, old)
	oldCli := pc.client(old.client)
	pc.net.isolate(pc.ids[old], pc.allIDs())
	cutAt := time.Now()
	t.Logf("isolate leader %s (term %d)", old.name, term)

	// A client pinned to the old leader keeps writing until the heal.
	var stop atomic.Bool
	var acked, tried atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load() && i < 200; i++ {
			wctx, wcancel := context.WithTimeout(ctx, electionE)
			tried.Add(1)
			if _, err := oldCli.Put(wctx, fmt.Sprintf("p4/old-%d", i), "v"); err == nil {
				acked.Add(1)
			}
			wcancel()
			time.Sleep(20 * time.Millisecond)
		}
	})

	newLead, err := pc.waitLeader(ctx, pc.others(old))
	if err != nil {
		t.Fatalf("P4: the majority never elected a new leader: %v", err)
	}
	elected := time.Since(cutAt)
	newTerm, _, _ := pc.mustStatus(ctx, newLead)
	var steppedDown time.Duration
	for {
		_, l, _ := pc.mustStatus(ctx, old)
		if l != oldID {
			steppedDown = time.Since(cutAt)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("P4: the isolated leader %s never stepped down", old.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := pc.client(newLead.client).Put(wctx, "p4/new", "v"); err != nil {
		t.Fatalf("P4: write through the new leader %s: %v", newLead.name, err)
	}
	wcancel()
	time.Sleep(2 * electionE) // the pinned client keeps trying the old leader meanwhile
	stop.Store(true)
	wg.Wait()
	if acked.Load() != 0 {
		t.Fatalf("P4: the isolated old leader acknowledged %d of %d writes", acked.Load(), tried.Load())
	}
	if newLead == old || newTerm <= term {
		t.Fatalf("P4: new leader %s in term %d, old %s in term %d", newLead.name, newTerm, old.name, term)
	}

	pc.net.heal()
	if _, err := pc.waitLeader(ctx, pc.members); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	t.Logf("P4: old leader %s stepped down %v after the cut; %s elected after %v (term %d→%d); the old leader acked 0 of %d writes",
		old.name, steppedDown.Round(time.Millisecond), newLead.name, elected.Round(time.Millisecond), term, newTerm, tried.Load())
}
