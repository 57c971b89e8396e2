package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestCluster3 checks a three-member cluster of real processes with
// etcdctl's cluster-wide commands and clientv3's concurrency recipes,
// whose sessions sit on different members.
func TestCluster3(t *testing.T) {
	c := newCluster(t, 3)
	eps := c.endpoints()

	t.Run("etcdctl_member_list", func(t *testing.T) {
		var first []string
		for i, ep := range eps {
			got := lines(ctl(t, []string{ep}, "", "member", "list"))
			slices.Sort(got)
			if i == 0 {
				first = got
			} else if !slices.Equal(got, first) {
				t.Fatalf("member list differs between %s and %s:\n%q\n%q", eps[0], ep, first, got)
			}
		}
		if len(first) != 3 {
			t.Fatalf("member list: %q", first)
		}
		for _, m := range c.members {
			want := fmt.Sprintf(", started, %s, http://%s, http://%s, false", m.name, m.peer, m.client)
			if !slices.ContainsFunc(first, func(l string) bool { return strings.HasSuffix(l, want) }) {
				t.Fatalf("member list %q has no line ending %q", first, want)
			}
		}
	})

	t.Run("etcdctl_endpoint_status_cluster", func(t *testing.T) {
		ctl(t, eps[:1], "", "put", "cluster/k", "v")
		// A linearizable read on another member sees it.
		wantLines(t, "get on member 3", ctl(t, eps[2:], "", "get", "cluster/k"), "cluster/k", "v")
		for _, ep := range eps {
			st := decode[[]jsonEndpointStatus](t, ctl(t, []string{ep}, "", "endpoint", "status", "--cluster", "-w", "json"))
			if len(st) != 3 {
				t.Fatalf("endpoint status --cluster via %s: %d entries", ep, len(st))
			}
			ids := map[uint64]bool{}
			var eps2 []string
			for _, s := range st {
				ids[s.Status.Header.MemberID] = true
				eps2 = append(eps2, s.Endpoint)
				if s.Status.Leader != st[0].Status.Leader || s.Status.Header.ClusterID != st[0].Status.Header.ClusterID ||
					s.Status.RaftTerm == 0 || s.Status.Version != "3.7.3" {
					t.Fatalf("endpoint status --cluster via %s: %+v", ep, st)
				}
			}
			slices.Sort(eps2)
			var want []string // --cluster dials the advertised client URLs
			for _, e := range eps {
				want = append(want, "http://"+e)
			}
			slices.Sort(want)
			if len(ids) != 3 || !ids[st[0].Status.Leader] || !slices.Equal(eps2, want) {
				t.Fatalf("endpoint status --cluster via %s: members %v, endpoints %v, leader %x", ep, ids, eps2, st[0].Status.Leader)
			}
		}
		out := ctl(t, eps[:1], "", "endpoint", "health", "--cluster")
		for _, ep := range eps {
			if !strings.Contains(out, "http://"+ep+" is healthy") {
				t.Fatalf("endpoint health --cluster printed %q, missing %s", out, ep)
			}
		}
	})

	t.Run("mutex", func(t *testing.T) { testMutex(t, c) })
	t.Run("election", func(t *testing.T) { testElection(t, c) })
	t.Run("stm", func(t *testing.T) { testSTM(t, c) })
}

// newSession opens a concurrency session on a client of endpoint ep.
func newSession(t *testing.T, c *cluster, ep string) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(c.client(ep), concurrency.WithTTL(10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testMutex: two sessions on different members increment one counter with
// a read-modify-write under concurrency.Mutex; no increment may be lost
// and no two holders may overlap.
func testMutex(t *testing.T, c *cluster) {
	const perWorker = 25
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sessions := []*concurrency.Session{newSession(t, c, c.members[0].client), newSession(t, c, c.members[1].client)}
	if _, err := sessions[0].Client().Put(ctx, "mutex/counter", "0"); err != nil {
		t.Fatal(err)
	}

	// TryLock fails while another session holds the lock.
	m0 := concurrency.NewMutex(sessions[0], "mutex/lock")
	if err := m0.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := concurrency.NewMutex(sessions[1], "mutex/lock").TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("TryLock while held: %v, want ErrLocked", err)
	}
	if err := m0.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	var inside, overlaps atomic.Int32
	errs := make(chan error, len(sessions))
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			mu := concurrency.NewMutex(s, "mutex/lock")
			cli := s.Client()
			for range perWorker {
				if err := mu.Lock(ctx); err != nil {
					errs <- err
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				err := increment(ctx, cli, "mutex/counter")
				inside.Add(-1)
				if uerr := mu.Unlock(ctx); err == nil {
					err = uerr
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d lock acquisitions overlapped another holder", n)
	}
	resp, err := sessions[0].Client().Get(ctx, "mutex/counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Kvs[0].Value); got != strconv.Itoa(2*perWorker) {
		t.Fatalf("counter is %s after 2 x %d locked increments (lost updates)", got, perWorker)
	}
}

// increment reads key as an integer and writes it back plus one, with no
// protection of its own: only the caller's lock makes it safe.
func increment(ctx context.Context, cli *clientv3.Client, key string) error {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(string(resp.Kvs[0].Value))
	if err != nil {
		return err
	}
	_, err = cli.Put(ctx, key, strconv.Itoa(n+1))
	return err
}

// testElection: a campaign blocks behind the leader, an observer on a
// third member follows every change, and resigning hands over leadership.
func testElection(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s1 := newSession(t, c, c.members[0].client)
	s2 := newSession(t, c, c.members[1].client)
	s3 := newSession(t, c, c.members[2].client)
	e1 := concurrency.NewElection(s1, "election/")
	e2 := concurrency.NewElection(s2, "election/")
	observed := concurrency.NewElection(s3, "election/").Observe(ctx)
	waitObserved := func(want string) {
		t.Helper()
		for {
			select {
			case resp, ok := <-observed:
				if !ok {
					t.Fatalf("observer closed while waiting for %q", want)
				}
				if string(resp.Kvs[0].Value) == want {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("observer never saw leader value %q", want)
			}
		}
	}

	if err := e1.Campaign(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	waitObserved("v1")
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "v2") }()
	select {
	case err := <-won:
		t.Fatalf("second campaign returned (%v) while the first leader holds", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := e1.Proclaim(ctx, "v1b"); err != nil {
		t.Fatal(err)
	}
	waitObserved("v1b")
	if resp, err := e2.Leader(ctx); err != nil || string(resp.Kvs[0].Value) != "v1b" {
		t.Fatalf("Leader from the waiting candidate: %v, %v", resp, err)
	}
	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatalf("second campaign: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second campaign did not win after the leader resigned")
	}
	waitObserved("v2")
	if resp, err := e1.Leader(ctx); err != nil || string(resp.Kvs[0].Value) != "v2" {
		t.Fatalf("Leader after the handover: %v, %v", resp, err)
	}
	// Closing the leader's session revokes its lease: no leader is left.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader after the leader's session closed: %v, want ErrElectionNoLeader", err)
	}
}

// testSTM: concurrent software transactions move money between accounts
// on different members; conflicts retry, so the total never changes.
func testSTM(t *testing.T, c *cluster) {
	const accounts, initial, workers, transfers = 5, 100, 3, 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acct := func(i int) string { return fmt.Sprintf("bank/%d", i) }
	setup := c.client(c.members[0].client)
	for i := range accounts {
		if _, err := setup.Put(ctx, acct(i), strconv.Itoa(initial)); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		cli := c.client(c.members[w%len(c.members)].client)
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() {
			for range transfers {
				from, to := rng.IntN(accounts), rng.IntN(accounts-1)
				if to >= from {
					to++
				}
				_, err := concurrency.NewSTM(cli, func(s concurrency.STM) error {
					a, err1 := strconv.Atoi(s.Get(acct(from)))
					b, err2 := strconv.Atoi(s.Get(acct(to)))
					if err := errors.Join(err1, err2); err != nil {
						return err
					}
					amount := a / 2
					s.Put(acct(from), strconv.Itoa(a-amount))
					s.Put(acct(to), strconv.Itoa(b+amount))
					return nil
				}, concurrency.WithAbortContext(ctx))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	resp, err := c.client(c.members[2].client).Get(ctx, "bank/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, kv := range resp.Kvs {
		n, err := strconv.Atoi(string(kv.Value))
		if err != nil || n < 0 {
			t.Fatalf("account %s holds %q", kv.Key, kv.Value)
		}
		total += n
	}
	if len(resp.Kvs) != accounts || total != accounts*initial {
		t.Fatalf("%d accounts hold %d in total after %d transfers, want %d and %d",
			len(resp.Kvs), total, workers*transfers, accounts, accounts*initial)
	}
}
