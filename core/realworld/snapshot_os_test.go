package realworld_test

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
	"metastore/core/mvcc"
	"metastore/core/realworld"
	"metastore/core/wal"
	"metastore/engines/memory"
)

var snapBenchKeys = flag.Int("snapbench.keys", 1_000_000, "keys in the store BenchmarkSnapshotOSDisk writes")

var (
	snapBenchOnce  sync.Once
	snapBenchStore *memory.Engine
)

// snapBenchEngine is a memory engine holding *snapBenchKeys puts of 256-byte
// values to 16-byte keys, as a server loaded by benchcompare holds: built
// once per process, since a million applies take seconds.
func snapBenchEngine(b *testing.B) *memory.Engine {
	snapBenchOnce.Do(func() {
		e := memory.New()
		s, err := mvcc.Open(e)
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 256)
		for i := range *snapBenchKeys {
			key := fmt.Appendf(nil, "k%015d", i)
			req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: value}}
			if res := s.Apply(uint64(i+1), req); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		snapBenchStore = e
	})
	return snapBenchStore
}

// BenchmarkSnapshotOSDisk writes one snapshot file of a million-key memory
// engine to the OS's disk as the server's snapshot job does (frozen view,
// mvcc stream, SnapWriter, yielding after each piece), and reports the
// process's CPU time per snapshot (cpu-s/op: user and system, which a busy
// machine skews far less than the wall time) and the file's size. In
// beside-wal, a goroutine meanwhile appends 4 KiB to another file and
// fdatasyncs it in a loop, as the WAL does, and the latencies of those
// syncs are reported: what a snapshot makes the log's writers wait.
func BenchmarkSnapshotOSDisk(b *testing.B) {
	b.Run("alone", func(b *testing.B) { benchSnapshotOSDisk(b, realworld.OSDisk{}, false) })
	b.Run("beside-wal", func(b *testing.B) { benchSnapshotOSDisk(b, realworld.OSDisk{}, true) })
	// What is left without the disk: the store's walk, encoding, copying
	// and checksums.
	b.Run("no-io", func(b *testing.B) { benchSnapshotOSDisk(b, discardFS{realworld.OSDisk{}}, false) })
}

// discardFS makes files that drop what is written to them.
type discardFS struct{ realworld.OSDisk }

func (discardFS) Create(string) (disk.File, error)       { return &discardFile{}, nil }
func (discardFS) CreateDirect(string) (disk.File, error) { return &discardFile{}, nil }
func (discardFS) Rename(string, string) error            { return nil }

type discardFile struct {
	disk.File
	size int64
}

func (f *discardFile) Write(p []byte) (int, error) { f.size += int64(len(p)); return len(p), nil }
func (f *discardFile) Truncate(size int64) error   { f.size = size; return nil }
func (f *discardFile) Sync() error                 { return nil }
func (f *discardFile) Close() error                { return nil }

func benchSnapshotOSDisk(b *testing.B, fsys disk.FS, walProbe bool) {
	e := snapBenchEngine(b)
	dir := b.TempDir()
	md := &raftpb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}
	var size int64
	var cpu time.Duration
	var syncs []time.Duration
	b.ResetTimer()
	for i := range b.N {
		md.Index = proto.Uint64(uint64(i + 1))
		var stop chan struct{}
		var probed chan []time.Duration
		if walProbe {
			stop, probed = make(chan struct{}), make(chan []time.Duration)
			go func() { probed <- probeSyncs(b, dir+"/probe", stop) }()
		}
		cpu0 := processCPU()
		view := e.Snapshot()
		w, err := wal.CreateSnapshot(fsys, dir, md)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mvcc.WriteSnapshot(view, pacedWriter{w}); err != nil {
			b.Fatal(err)
		}
		f, err := w.Commit()
		if err != nil {
			b.Fatal(err)
		}
		view.Close()
		cpu += processCPU() - cpu0
		size = f.Size
		b.StopTimer()
		if walProbe {
			close(stop)
			syncs = append(syncs, <-probed...)
		}
		if err := wal.PurgeSnapshots(realworld.OSDisk{}, dir, 0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/1e6, "MB")
	if !walProbe {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		return
	}
	slices.Sort(syncs)
	if len(syncs) > 0 {
		b.ReportMetric(float64(len(syncs))/float64(b.N), "wal-syncs/op")
		b.ReportMetric(syncs[len(syncs)/2].Seconds()*1e3, "wal-sync-p50-ms")
		b.ReportMetric(syncs[len(syncs)*99/100].Seconds()*1e3, "wal-sync-p99-ms")
		b.ReportMetric(syncs[len(syncs)-1].Seconds()*1e3, "wal-sync-max-ms")
	}
}

// probeSyncs appends 4 KiB to name and fdatasyncs it until stop is closed,
// and returns how long each sync took.
func probeSyncs(b *testing.B, name string, stop chan struct{}) []time.Duration {
	f, err := realworld.OSDisk{}.Create(name)
	if err != nil {
		b.Error(err)
		return nil
	}
	defer f.Close()
	block := make([]byte, 4096)
	var took []time.Duration
	for {
		select {
		case <-stop:
			return took
		default:
		}
		if _, err := f.Write(block); err != nil {
			b.Error(err)
			return took
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			b.Error(err)
			return took
		}
		took = append(took, time.Since(start))
	}
}

// pacedWriter yields after each write, as the server's snapshot job does,
// and lends the SnapWriter's buffer and checksum as it does.
type pacedWriter struct{ w *wal.SnapWriter }

func (p pacedWriter) AvailableBuffer() []byte { return p.w.AvailableBuffer() }

func (p pacedWriter) Checksum() (uint32, int64) { return p.w.Checksum() }

func (p pacedWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	runtime.Gosched()
	return n, err
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
