package server

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"metastore/core"
	"metastore/core/disk"
	"metastore/core/realworld"
)

// failingDisk fails every Sync once armed.
type failingDisk struct {
	realworld.OSDisk
	armed *atomic.Bool
}

type failingFile struct {
	disk.File
	armed *atomic.Bool
}

var errInjected = errors.New("injected fsync failure")

func (d failingDisk) Create(name string) (disk.File, error) {
	f, err := d.OSDisk.Create(name)
	return failingFile{f, d.armed}, err
}

func (d failingDisk) OpenAppend(name string) (disk.File, error) {
	f, err := d.OSDisk.OpenAppend(name)
	return failingFile{f, d.armed}, err
}

func (f failingFile) Sync() error {
	if f.armed.Load() {
		return errInjected
	}
	return f.File.Sync()
}

// TestNodeFailStop: an fsync error stops the loop for good; waiting and
// later requests are answered "server stopped", none hangs.
func TestNodeFailStop(t *testing.T) {
	armed := new(atomic.Bool)
	m := &member{id: 1, name: "solo", dir: t.TempDir()}
	var err error
	if m.lis, err = listenLoopback(); err != nil {
		t.Fatal(err)
	}
	rc := core.Config{ID: 1, Peers: []uint64{1}, Network: dropNetwork{}}
	m.startWith(t, rc, failingDisk{armed: armed}, nil)
	waitLeader(t, m)
	ctx := ctxT(t)
	if _, err := m.cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if _, err := m.cli.Put(ctx, "a", "2"); err != rpctypes.ErrStopped && err != rpctypes.ErrTimeout {
		t.Fatalf("put during fsync failure: %v", err)
	}
	select {
	case <-m.node.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop")
	}
	if err := m.node.Err(); !errors.Is(err, errInjected) {
		t.Fatalf("node error = %v", err)
	}
	if _, err := m.cli.Get(ctx, "a"); err != rpctypes.ErrStopped {
		t.Fatalf("get after fail-stop: %v", err)
	}
	m.expectFailure = true
}
