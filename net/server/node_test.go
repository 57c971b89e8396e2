package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

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

// CreateDirect overrides OSDisk's, as Create does: snapshot files to keep
// are made direct.
func (d failingDisk) CreateDirect(name string) (disk.File, error) {
	f, err := d.OSDisk.CreateDirect(name)
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

// gatedDisk blocks every Sync while its gate is shut.
type gatedDisk struct {
	realworld.OSDisk
	gate *syncGate
}

type gatedFile struct {
	disk.File
	gate *syncGate
}

type syncGate struct {
	shut    atomic.Bool
	open    chan struct{} // closed to let the blocked syncs through
	blocked chan struct{} // receives when a Sync starts waiting
	once    sync.Once
}

func (g *syncGate) release() {
	g.shut.Store(false)
	g.once.Do(func() { close(g.open) })
}

func (d gatedDisk) Create(name string) (disk.File, error) {
	f, err := d.OSDisk.Create(name)
	return gatedFile{f, d.gate}, err
}

// CreateDirect overrides OSDisk's, as Create does.
func (d gatedDisk) CreateDirect(name string) (disk.File, error) {
	f, err := d.OSDisk.CreateDirect(name)
	return gatedFile{f, d.gate}, err
}

func (d gatedDisk) OpenAppend(name string) (disk.File, error) {
	f, err := d.OSDisk.OpenAppend(name)
	return gatedFile{f, d.gate}, err
}

func (f gatedFile) Sync() error {
	if f.gate.shut.Load() {
		select {
		case f.gate.blocked <- struct{}{}:
		default:
		}
		<-f.gate.open
	}
	return f.File.Sync()
}

// TestNodeLoopRunsDuringFsync: while the append stage is stuck in an
// fsync, the loop still runs requests and serves serializable reads; a
// write proposed meanwhile completes once the disk comes back.
func TestNodeLoopRunsDuringFsync(t *testing.T) {
	g := &syncGate{open: make(chan struct{}), blocked: make(chan struct{}, 1)}
	m := &member{id: 1, name: "solo", dir: t.TempDir()}
	var err error
	if m.lis, err = listenLoopback(); err != nil {
		t.Fatal(err)
	}
	m.startWith(t, core.Config{ID: 1, Peers: []uint64{1}, Network: dropNetwork{}}, gatedDisk{gate: g}, nil)
	t.Cleanup(g.release) // before the member stops: Stop waits for the stage
	waitLeader(t, m)
	ctx := ctxT(t)
	if _, err := m.cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	g.shut.Store(true)
	first := make(chan error, 1)
	go func() { _, err := m.cli.Put(ctx, "a", "2"); first <- err }()
	select {
	case <-g.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the put's fsync never started")
	}
	// The stage is stuck; the loop is not.
	ran := make(chan struct{})
	if err := m.node.Do(ctx, func(*core.Replica) { close(ran) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not run a request while an fsync was stuck")
	}
	get, err := m.cli.Get(ctx, "a", clientv3.WithSerializable())
	if err != nil || string(get.Kvs[0].Value) != "1" {
		t.Fatalf("serializable get during the stuck fsync = %v, %v (want the synced value 1)", get, err)
	}
	second := make(chan error, 1)
	go func() { _, err := m.cli.Put(ctx, "b", "1"); second <- err }()
	select {
	case err := <-first:
		t.Fatalf("put answered before its fsync returned: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	g.release()
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatalf("put after the disk came back: %v", err)
		}
	}
}

// TestNodeStopAnswersWaitingCalls: calls still waiting for the replica
// when the node stops are answered ErrNodeStopped, not left to their
// timeout; so are calls made after.
func TestNodeStopAnswersWaitingCalls(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t) // a wait nothing answers fails the test, not hangs it
	const waiting = 8
	errs := make(chan error, waiting)
	queued := make(chan struct{}, waiting)
	for range waiting {
		go func() {
			// Within the deadline ring (300 test ticks), and long enough
			// that a timeout would answer errTimeout after the stop.
			_, err := m.node.call(ctx, 2500*time.Millisecond, func(*core.Replica, core.Callback) {
				queued <- struct{}{} // and never answer
			})
			errs <- err
		}()
	}
	for range waiting {
		<-queued
	}
	m.node.Stop()
	for range waiting {
		if err := <-errs; !errors.Is(err, ErrNodeStopped) {
			t.Fatalf("a call waiting when the node stopped got %v, want ErrNodeStopped", err)
		}
	}
	if _, err := m.node.call(ctx, 2500*time.Millisecond, func(_ *core.Replica, cb core.Callback) {
		cb(core.Result{})
	}); !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("a call after the stop got %v, want ErrNodeStopped", err)
	}
}
