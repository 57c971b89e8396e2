package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
	"metastore/core/disk"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/engines/rocksdb"
)

// lockedBuffer is a log sink safe for the node's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// snapFailDisk fails the Sync of snapshot files only.
type snapFailDisk struct{ realworld.OSDisk }

type snapFailFile struct{ disk.File }

func (d snapFailDisk) Create(name string) (disk.File, error) {
	f, err := d.OSDisk.Create(name)
	if err == nil && strings.HasSuffix(name, ".snap.tmp") {
		return snapFailFile{f}, nil
	}
	return f, err
}

// CreateDirect overrides OSDisk's: snapshot files to keep are made direct.
func (d snapFailDisk) CreateDirect(name string) (disk.File, error) {
	f, err := d.OSDisk.CreateDirect(name)
	if err == nil && strings.HasSuffix(name, ".snap.tmp") {
		return snapFailFile{f}, nil
	}
	return f, err
}

func (snapFailFile) Sync() error { return errInjected }

// startSnapshotNode runs a one-member replica with a small snapshot count
// on d, logging to the returned buffer.
func startSnapshotNode(t *testing.T, d core.Disk) (*Node, *lockedBuffer) {
	t.Helper()
	r, err := core.Open(core.Config{
		ID: 1, Peers: []uint64{1}, Dir: filepath.Join(t.TempDir(), "member"), Disk: d,
		Clock: realworld.NewClock(), Network: dropNetwork{}, Engine: memory.New(),
		Rand: rand.New(rand.NewPCG(1, 2)), SnapshotEntries: 10, CatchUpEntries: 5, LogKeepBytes: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	n := NewNode(r, NodeConfig{TickInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	n.Start()
	t.Cleanup(n.Stop)
	return n, logs
}

// put proposes through the node's loop and waits for the answer.
func nodePut(t *testing.T, n *Node, key string) error {
	t.Helper()
	done := make(chan error, 1)
	err := n.Do(context.Background(), func(r *core.Replica) {
		r.Propose(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("v")}},
			func(res core.Result) { done <- res.Err })
	})
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-n.Done():
		return n.Err()
	case <-time.After(10 * time.Second):
		return errors.New("no answer")
	}
}

// The node runs snapshot jobs on their own goroutine and logs each with its
// figures (a warning past 100 ms); the log is then compacted.
func TestNodeSnapshotsOffTheLoop(t *testing.T) {
	n, logs := startSnapshotNode(t, realworld.OSDisk{})
	eventually(t, 10*time.Second, func() error {
		if n.Status().Role != "leader" {
			return errors.New("not leader yet")
		}
		return nil
	})
	for i := 0; i < 40; i++ {
		if err := nodePut(t, n, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if st := n.Status(); st.SnapshotIdx == 0 {
			return errors.New("no snapshot completed")
		}
		return nil
	})
	out := logs.String()
	if !strings.Contains(out, "msg=\"snapshot written\"") && !strings.Contains(out, "msg=\"slow snapshot\"") {
		t.Fatalf("no snapshot log line:\n%s", out)
	}
	for _, field := range []string{"index=", "bytes=", "took="} {
		if !strings.Contains(out, field) {
			t.Fatalf("snapshot log lacks %s:\n%s", field, out)
		}
	}
}

// A snapshot file that cannot be synced is a fail-stop, as any fsync error.
func TestNodeSnapshotWriteErrorStopsTheNode(t *testing.T) {
	n, logs := startSnapshotNode(t, snapFailDisk{})
	eventually(t, 10*time.Second, func() error {
		if n.Status().Role != "leader" {
			return errors.New("not leader yet")
		}
		return nil
	})
	for i := 0; i < 40; i++ {
		if err := nodePut(t, n, fmt.Sprintf("k%d", i)); err != nil {
			break // stopped
		}
	}
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop after a failed snapshot")
	}
	if err := n.Err(); !errors.Is(err, errInjected) {
		t.Fatalf("node error = %v, want the injected fsync failure", err)
	}
	if !strings.Contains(logs.String(), "snapshot failed") {
		t.Fatalf("the failure was not logged:\n%s", logs.String())
	}
}

// On RocksDB a member's snapshots hold no store (the engine is synced
// through SizedEngine, the file keeps raft's metadata), and a member that
// was down past compaction catches up from a file the leader's node makes
// from its engine on a goroutine, sends over the peer transport and
// removes once the transport reported the send.
func TestRocksDBMemberCatchesUpFromEngineSnapshot(t *testing.T) {
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, uint64(i+1))
		e, err := rocksdb.Open(filepath.Join(ms[i].dir, "rocksdb"), rocksdb.SimOptions)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		ms[i].engine = e
	}
	var snapDir string
	catchUpFromSnapshot(t, ms, func(lead *member) {
		snapDir = filepath.Join(lead.dir, "member", "snap")
		snaps, _ := filepath.Glob(filepath.Join(snapDir, "*.snap"))
		if len(snaps) == 0 {
			t.Fatal("the leader has no snapshot file")
		}
		for _, p := range snaps {
			if fi, err := os.Stat(p); err != nil || fi.Size() > 1024 {
				t.Fatalf("snapshot %s: %v, %v: it holds the store", p, fi.Size(), err)
			}
		}
	})
	eventually(t, 10*time.Second, func() error {
		if sends, _ := filepath.Glob(filepath.Join(snapDir, "*.send")); len(sends) > 0 {
			return fmt.Errorf("files for sending left: %v", sends)
		}
		return nil
	})
}
