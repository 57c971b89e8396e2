package e2e

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// member is one metastore process and the addresses it was given. A
// member can be killed and started again on the same data directory.
type member struct {
	name    string
	dataDir string
	client  string // host:port served to clients
	peer    string // host:port for raft traffic
	metrics string // host:port for /metrics
	logPath string
	// peerListen, when set, is where the member really listens for peers
	// and peer is a proxy in front of it (peerNet).
	peerListen string
	args       []string // this member's own extra flags

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed once the running process has exited
	waitErr  error         // the process's exit, valid after done
	expected bool          // the test itself killed or stopped it
}

// cluster is n members bootstrapped together; its Cleanup stops every
// member gracefully and fails the test if one had died on its own or does
// not stop cleanly.
type cluster struct {
	t       testing.TB
	token   string
	initial string   // --initial-cluster
	args    []string // extra flags for every member
	// flags, when set, replaces the flags start gives a member (see
	// defaultFlags); args still follow.
	flags   func(c *cluster, m *member) []string
	members []*member

	adminOnce sync.Once
	admin     *clientv3.Client

	// tls, when set, makes client and/or peer URLs https (tls_test.go).
	tls *clusterTLS
}

// newCluster starts n members on free ports of 127.0.0.1, each with the
// extra flags args, and waits until they agree on a leader and every
// member has published its name and client URL.
func newCluster(t testing.TB, n int, args ...string) *cluster {
	t.Helper()
	return startClusterWith(t, make([][]string, n), nil, nil, args...)
}

// newClusterOf is newCluster with extra flags per member as well: member i
// gets memberArgs[i] after args (a mixed-engine cluster, for instance).
func newClusterOf(t testing.TB, memberArgs [][]string, args ...string) *cluster {
	t.Helper()
	return startClusterWith(t, memberArgs, nil, nil, args...)
}

// newClusterTLS is newCluster with the TLS setup sec (nil: plaintext).
func newClusterTLS(t testing.TB, n int, sec *clusterTLS, args ...string) *cluster {
	t.Helper()
	return startClusterWith(t, make([][]string, n), nil, sec, args...)
}

// startCluster is newCluster with the members' flags made by flags (nil:
// defaultFlags).
func startCluster(t testing.TB, n int, flags func(c *cluster, m *member) []string, args ...string) *cluster {
	t.Helper()
	return startClusterWith(t, make([][]string, n), flags, nil, args...)
}

func startClusterWith(t testing.TB, memberArgs [][]string, flags func(c *cluster, m *member) []string, sec *clusterTLS, args ...string) *cluster {
	t.Helper()
	n := len(memberArgs)
	base := t.TempDir()
	ports := freePorts(t, 3*n)
	c := &cluster{t: t, token: "e2e-" + sanitize(t.Name()), args: args, flags: flags, tls: sec}
	var peers []string
	for i := range n {
		m := &member{
			name:    fmt.Sprintf("m%d", i+1),
			client:  fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			peer:    fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			metrics: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
			args:    memberArgs[i],
		}
		m.dataDir = filepath.Join(base, m.name)
		m.logPath = filepath.Join(base, m.name+".log")
		c.members = append(c.members, m)
		peers = append(peers, m.name+"="+c.peerScheme()+m.peer)
	}
	c.initial = strings.Join(peers, ",")
	t.Cleanup(c.cleanup)
	for _, m := range c.members {
		c.start(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.waitLeader(ctx, c.members); err != nil {
		t.Fatalf("cluster of %d never agreed on a leader: %v", n, err)
	}
	if err := c.waitPublished(ctx); err != nil {
		t.Fatalf("cluster of %d: members never published their attributes: %v", n, err)
	}
	return c
}

// waitPublished polls until every member's member list shows every member
// with its name and client URL (members publish them through raft once a
// leader exists, as etcd's do), as etcdctl member list would print them.
func (c *cluster) waitPublished(ctx context.Context) error {
	clis := make([]*clientv3.Client, len(c.members))
	for i, m := range c.members {
		clis[i] = c.client(m.client)
	}
	for {
		err := c.published(ctx, clis)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *cluster) published(ctx context.Context, clis []*clientv3.Client) error {
	for i, m := range c.members {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := clis[i].MemberList(lctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		names := map[string]string{}
		for _, mb := range resp.Members {
			if len(mb.ClientURLs) == 1 {
				names[mb.Name] = mb.ClientURLs[0]
			}
		}
		for _, o := range c.members {
			if names[o.name] != c.clientScheme()+o.client {
				return fmt.Errorf("%s lists %v, without %s", m.name, resp.Members, o.name)
			}
		}
	}
	return nil
}

// endpoints are the members' client addresses, in member order.
func (c *cluster) endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.client
	}
	return out
}

// extraMemberArgs are flags every member gets on top of the test's, from
// METASTORE_E2E_ARGS (space-separated): the suite then checks a server
// option, e.g. METASTORE_E2E_ARGS=--experimental-lean-grpc=false.
func extraMemberArgs() []string { return strings.Fields(os.Getenv("METASTORE_E2E_ARGS")) }

// start launches m's process; its output is appended to m.logPath.
func (c *cluster) start(m *member) {
	c.t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	flags := defaultFlags(c, m)
	if c.flags != nil {
		flags = c.flags(c, m)
	}
	cmd := exec.Command(metastoreBin, slices.Concat(flags, c.tls.flags(), c.args, m.args, extraMemberArgs())...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start %s: %v", m.name, err)
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.cmd, m.done, m.expected = cmd, done, false
	m.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		m.mu.Lock()
		m.waitErr = err
		m.mu.Unlock()
		close(done)
	}()
}

// defaultFlags are every URL given explicitly, a metrics listener and the
// test's own cluster token.
func defaultFlags(c *cluster, m *member) []string {
	return []string{
		"--name=" + m.name,
		"--data-dir=" + m.dataDir,
		"--listen-client-urls=" + c.clientScheme() + m.client,
		"--advertise-client-urls=" + c.clientScheme() + m.client,
		"--listen-peer-urls=" + c.peerScheme() + cmp.Or(m.peerListen, m.peer),
		"--initial-advertise-peer-urls=" + c.peerScheme() + m.peer,
		"--listen-metrics-urls=http://" + m.metrics,
		"--initial-cluster=" + c.initial,
		"--initial-cluster-token=" + c.token,
	}
}

// kill sends SIGKILL to m (a crash: nothing is flushed) and waits for it.
func (c *cluster) kill(m *member) {
	m.mu.Lock()
	m.expected = true
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM and waits; it reports whether m exited cleanly
// (status 0) within the grace period, killing it otherwise.
func (c *cluster) stop(m *member) error {
	m.mu.Lock()
	cmd, done, already := m.cmd, m.done, m.expected
	m.expected = true
	m.mu.Unlock()
	select {
	case <-done:
		if already {
			return nil
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		return fmt.Errorf("%s exited on its own: %v", m.name, m.waitErr)
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within 10s of SIGTERM", m.name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.waitErr != nil {
		return fmt.Errorf("%s stopped with %v", m.name, m.waitErr)
	}
	return nil
}

func (c *cluster) cleanup() {
	if c.admin != nil {
		c.admin.Close()
	}
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		if err := c.stop(m); err != nil {
			c.t.Error(err)
		}
	}
	if c.t.Failed() {
		for _, m := range c.members {
			c.t.Logf("---- last lines of %s (%s) ----\n%s", m.name, m.logPath, tail(m.logPath, 40))
		}
	}
}

// client returns a clientv3 client on the given endpoints (all members
// when none are given), closed at the end of the test.
func (c *cluster) client(eps ...string) *clientv3.Client {
	c.t.Helper()
	cli, err := c.tls.newClient(eps...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

func newClient(eps ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// status asks m itself for its Maintenance.Status.
func (c *cluster) status(ctx context.Context, m *member) (*clientv3.StatusResponse, error) {
	c.adminOnce.Do(func() {
		var err error
		if c.admin, err = c.tls.newClient(c.endpoints()...); err != nil {
			c.t.Fatal(err)
		}
	})
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.admin.Status(sctx, m.client)
}

// waitLeader polls the given members until every one of them answers and
// they all name the same leader, itself one of them; it returns it.
func (c *cluster) waitLeader(ctx context.Context, among []*member) (*member, error) {
	var last error
	for {
		leader, err := c.agreedLeader(ctx, among)
		if err == nil {
			return leader, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *cluster) agreedLeader(ctx context.Context, among []*member) (*member, error) {
	var lead uint64
	byID := map[uint64]*member{}
	for _, m := range among {
		st, err := c.status(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		byID[st.Header.MemberId] = m
		switch {
		case st.Leader == 0:
			return nil, fmt.Errorf("%s has no leader", m.name)
		case lead != 0 && st.Leader != lead:
			return nil, fmt.Errorf("%s names leader %x, another member %x", m.name, st.Leader, lead)
		}
		lead = st.Leader
	}
	if m, ok := byID[lead]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("leader %x is not among the members asked", lead)
}

// freePorts returns n distinct free TCP ports of 127.0.0.1. All listeners
// are held until every port is chosen, so the ports differ.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// sanitize keeps a test name usable as a cluster token.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}
