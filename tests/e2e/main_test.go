package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Paths set by TestMain for every test.
var (
	repoRoot     string // the module root (holds go.mod)
	metastoreBin string // freshly built ./cmd/metastore
	etcdctlBin   string // .peers/bin/etcdctl, built if missing
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "metastore-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: FATAL:", err)
		os.Exit(1)
	}
	err = setup(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: FATAL: cannot prepare the binaries:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup builds metastore into dir and makes sure etcdctl exists.
func setup(dir string) error {
	var err error
	if repoRoot, err = findRoot(); err != nil {
		return err
	}
	metastoreBin = filepath.Join(dir, "metastore")
	build := exec.Command("go", "build", "-o", metastoreBin, "./cmd/metastore")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/metastore: %w\n%s", err, out)
	}
	etcdctlBin = filepath.Join(repoRoot, ".peers", "bin", "etcdctl")
	if fi, err := os.Stat(etcdctlBin); err == nil && fi.Mode()&0o111 != 0 {
		return nil
	}
	script := exec.Command("bash", "scripts/build-etcd-peers.sh", "etcdctl")
	script.Dir = repoRoot
	if out, err := script.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/build-etcd-peers.sh etcdctl: %w\n%s", err, out)
	}
	if _, err := os.Stat(etcdctlBin); err != nil {
		return fmt.Errorf("build-etcd-peers.sh ran but %s is missing: %w", etcdctlBin, err)
	}
	return nil
}

// findRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
