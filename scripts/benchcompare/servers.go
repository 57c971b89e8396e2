package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Server kinds; the names appear in the tables and the JSON. "MetaStore"
// is the memory engine (the name predates the RocksDB column).
const (
	etcdKind      = "etcd"
	metastoreKind = "MetaStore"
	rocksdbKind   = "MetaStore-RocksDB"
)

// engineKinds maps -engines' names to server kinds; kindEngines is the
// reverse, with the --engine value each MetaStore kind runs with.
var (
	engineKinds = map[string]string{"memory": metastoreKind, "rocksdb": rocksdbKind}
	kindEngines = map[string]string{metastoreKind: "memory", rocksdbKind: "rocksdb"}
)

// member is one server process.
type member struct {
	name   string
	client string // host:port
	cmd    *exec.Cmd
	log    *os.File
	done   chan struct{} // closed when the process has exited
}

// cluster is n members of one kind on fresh data directories under dir,
// each with its own loopback ports.
type cluster struct {
	kind    string
	dir     string
	members []*member
}

// freePorts reserves n distinct loopback ports by listening on port 0 and
// closing again; another process may take one in between, in which case a
// member fails to start and the run reports it.
func freePorts(n int) ([]int, error) {
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
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startCluster starts n members of kind with bin and waits until every one
// reports the same leader. Every kind gets etcd's flags (MetaStore follows
// etcd's names), fsync on, default snapshot and timing settings; MetaStore
// kinds also name their engine.
func startCluster(ctx context.Context, kind string, bins binaries, dir string, n int) (*cluster, error) {
	bin := bins.server(kind)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	c := &cluster{kind: kind, dir: dir}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, ports[3*i+1]))
	}
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i+1), client: fmt.Sprintf("127.0.0.1:%d", ports[3*i]), done: make(chan struct{})}
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+1])
		args := []string{
			"--name=" + m.name,
			"--data-dir=" + filepath.Join(dir, m.name),
			"--listen-client-urls=http://" + m.client,
			"--advertise-client-urls=http://" + m.client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--listen-metrics-urls=" + fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2]),
			"--initial-cluster=" + strings.Join(initial, ","),
			"--initial-cluster-token=bench-compare",
			"--initial-cluster-state=new",
		}
		if engine, ok := kindEngines[kind]; ok {
			args = append(args, "--engine="+engine)
			args = append(args, bins.metastoreArgs...)
		}
		if m.log, err = os.Create(filepath.Join(dir, m.name+".log")); err != nil {
			c.stop()
			return nil, err
		}
		m.cmd = exec.Command(bin, args...)
		m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive this program
		if err := m.cmd.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("starting %s %s: %w", kind, m.name, err)
		}
		go func() { m.cmd.Wait(); close(m.done) }()
		c.members = append(c.members, m)
	}
	if err := c.waitLeader(ctx, 60*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client)
	}
	return eps
}

func (c *cluster) pids() []int {
	var pids []int
	for _, m := range c.members {
		pids = append(pids, m.cmd.Process.Pid)
	}
	return pids
}

// exited names a member that is no longer running, if any.
func (c *cluster) exited() error {
	for _, m := range c.members {
		select {
		case <-m.done:
			return fmt.Errorf("%s %s exited (%v); see %s", c.kind, m.name, m.cmd.ProcessState, m.log.Name())
		default:
		}
	}
	return nil
}

// waitLeader polls every member's Status until all name the same leader.
func (c *cluster) waitLeader(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	var last error
	for {
		if err := c.exited(); err != nil {
			return err
		}
		leaders := map[uint64]bool{}
		for _, ep := range c.endpoints() {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, ep)
			scancel()
			switch {
			case err != nil:
				last = err
				leaders[0] = true
			default:
				leaders[st.Leader] = true
			}
		}
		if len(leaders) == 1 && !leaders[0] {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s cluster of %d: no agreed leader within %v (last error: %v)", c.kind, len(c.members), limit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rss is the largest member's resident memory.
func (c *cluster) rss() int64 {
	var most int64
	for _, pid := range c.pids() {
		if b, err := residentBytes(readFile(fmt.Sprintf("/proc/%d/status", pid))); err == nil {
			most = max(most, b)
		}
	}
	return most
}

// stop sends SIGTERM to every member, SIGKILL to any still running after
// 10 s, and removes the data directories (logs of a failed start are kept
// by the caller's choice of dir).
func (c *cluster) stop() {
	for _, m := range c.members {
		m.cmd.Process.Signal(syscall.SIGTERM)
	}
	timeout, expired := time.After(10*time.Second), false
	for _, m := range c.members {
		if !expired {
			select {
			case <-m.done:
			case <-timeout:
				expired = true
			}
		}
		if expired {
			m.cmd.Process.Kill()
			<-m.done
		}
		m.log.Close()
	}
}

// removeData deletes the members' data directories, keeping their logs.
func (c *cluster) removeData() error {
	var errs []error
	for _, m := range c.members {
		errs = append(errs, os.RemoveAll(filepath.Join(c.dir, m.name)))
	}
	return errors.Join(errs...)
}
