package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ctlArgs are the global flags every etcdctl call gets.
func ctlArgs(eps []string, args []string) []string {
	return append([]string{"--endpoints=" + strings.Join(eps, ","),
		"--dial-timeout=5s", "--command-timeout=10s"}, args...)
}

// ctl runs etcdctl against eps, feeding it stdin, and returns its standard
// output; a non-zero exit fails the test with etcdctl's standard error.
func ctl(t *testing.T, eps []string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := ctlRun(eps, stdin, args...)
	if err != nil {
		t.Fatalf("etcdctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// ctlRun runs etcdctl and returns its outputs and exit error.
func ctlRun(eps []string, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin, ctlArgs(eps, args)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.SysProcAttr = childAttr()
	err = cmd.Run()
	return o.String(), e.String(), err
}

// bgCtl is a long-running etcdctl (watch, lock, elect) whose output lines
// arrive on a channel.
type bgCtl struct {
	cmd    *exec.Cmd
	lines  chan string // closed at the end of its stdout
	done   chan struct{}
	err    error // exit status, valid after done
	stderr bytes.Buffer
}

// startCtl starts etcdctl in the background; the test's Cleanup kills it
// if it is still running.
func startCtl(t *testing.T, eps []string, args ...string) *bgCtl {
	t.Helper()
	p := &bgCtl{
		cmd:   exec.Command(etcdctlBin, ctlArgs(eps, args)...),
		lines: make(chan string, 1024),
		done:  make(chan struct{}),
	}
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = childAttr()
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// next returns the next output line, failing the test if none comes
// within d.
func (p *bgCtl) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("etcdctl %v ended early: %s", p.cmd.Args[4:], p.stderr.String())
		}
		return l
	case <-time.After(d):
		t.Fatalf("etcdctl %v printed nothing within %v", p.cmd.Args[4:], d)
	}
	return ""
}

// quiet fails the test if the process prints a line within d.
func (p *bgCtl) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if ok {
			t.Fatalf("etcdctl %v printed %q, want nothing yet", p.cmd.Args[4:], l)
		}
		t.Fatalf("etcdctl %v ended early: %s", p.cmd.Args[4:], p.stderr.String())
	case <-time.After(d):
	}
}

// interrupt sends SIGINT (etcdctl then releases its lock or leadership)
// and waits for the exit.
func (p *bgCtl) interrupt(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("etcdctl %v did not exit on SIGINT", p.cmd.Args[4:])
	}
}
