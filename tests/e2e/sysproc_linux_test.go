package e2e

import "syscall"

// childAttr makes the kernel kill a child when the test binary dies (for
// example on a go test -timeout), so no server outlives its test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
