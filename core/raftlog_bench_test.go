package core

import (
	"runtime"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// heldLogEntries is about the log a million-key memory member holds
// between snapshots (1/snapshotLogRatio of the store, plus CatchUpEntries).
const heldLogEntries = 170_000

type appendStorage interface {
	raft.Storage
	Append([]*raftpb.Entry) error
}

// BenchmarkRaftLogGC holds heldLogEntries entries of 300 bytes in each
// storage and times a full collection with nothing else on the heap
// (none: the test binary's own heap):
// ns/op is wall time, cpu-ns/op the process's CPU time (both cores mark),
// heap-objects and B/entry what the log adds to the heap.
func BenchmarkRaftLogGC(b *testing.B) {
	for _, s := range []struct {
		name string
		new  func() appendStorage
	}{
		{"none", nil},
		{"MemoryStorage", func() appendStorage { return raft.NewMemoryStorage() }},
		{"packedLog", func() appendStorage { return newPackedLog(defaultTailEntries) }},
	} {
		b.Run(s.name, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var st appendStorage
			if s.new != nil {
				st = s.new()
				fillLog(b, st, heldLogEntries, 300)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				runtime.GC()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			// NB: after the loop: ResetTimer drops reported metrics.
			b.ReportMetric(float64(after.HeapObjects-before.HeapObjects), "heap-objects")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/heldLogEntries, "B/entry")
			runtime.KeepAlive(st)
		})
	}
}

// fillLog appends n entries of size bytes the way a leader's log grows:
// batches of proposals that raft gave a term and an index.
func fillLog(tb testing.TB, st appendStorage, n, size int) {
	const batch = 64
	for i := 1; i <= n; i += batch {
		ents := make([]*raftpb.Entry, 0, batch)
		for k := i; k < i+batch && k <= n; k++ {
			data := make([]byte, size)
			data[0] = byte(k)
			ents = append(ents, &raftpb.Entry{Term: proto.Uint64(2), Index: proto.Uint64(uint64(k)),
				Type: raftpb.EntryNormal.Enum(), Data: data})
		}
		if err := st.Append(ents); err != nil {
			tb.Fatal(err)
		}
	}
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkRaftLogEntries reads the log back as the apply and MsgApp paths
// do, a batch of 64 at a time: from the tail (fresh entries) and from the
// packed part (a follower catching up).
func BenchmarkRaftLogEntries(b *testing.B) {
	for _, s := range []struct {
		name  string
		new   func() appendStorage
		depth uint64
	}{
		{"MemoryStorage", func() appendStorage { return raft.NewMemoryStorage() }, 64},
		{"packedLog/tail", func() appendStorage { return newPackedLog(defaultTailEntries) }, 64},
		{"packedLog/packed", func() appendStorage { return newPackedLog(defaultTailEntries) }, 4096},
	} {
		b.Run(s.name, func(b *testing.B) {
			st := s.new()
			fillLog(b, st, 8192, 300)
			last, _ := st.LastIndex()
			b.ReportAllocs()
			for b.Loop() {
				ents, err := st.Entries(last-s.depth+1, last-s.depth+65, 1<<30)
				if err != nil || len(ents) != 64 {
					b.Fatal(len(ents), err)
				}
			}
		})
	}
}

// BenchmarkRaftLogAppend appends a batch of 64 entries of 300 bytes a
// time, compacting to keep about 8,192, as a member's log turns over: the
// packed log's records, tail and spill copy against MemoryStorage's slice.
// Making the entries is timed too (the same work for both): stopping the
// timer for it costs more than what is measured.
func BenchmarkRaftLogAppend(b *testing.B) {
	for _, s := range []struct {
		name string
		new  func() interface {
			appendStorage
			Compact(uint64) error
		}
	}{
		{"MemoryStorage", func() interface {
			appendStorage
			Compact(uint64) error
		} {
			return raft.NewMemoryStorage()
		}},
		{"packedLog", func() interface {
			appendStorage
			Compact(uint64) error
		} {
			return newPackedLog(defaultTailEntries)
		}},
	} {
		b.Run(s.name, func(b *testing.B) {
			st := s.new()
			const batch, keep = 64, 8192
			next := uint64(1)
			b.ReportAllocs()
			for b.Loop() {
				ents := make([]*raftpb.Entry, batch)
				for k := range ents {
					ents[k] = &raftpb.Entry{Term: proto.Uint64(2), Index: proto.Uint64(next), Type: raftpb.EntryNormal.Enum(), Data: make([]byte, 300)}
					next++
				}
				if err := st.Append(ents); err != nil {
					b.Fatal(err)
				}
				if next > 2*keep && next%keep < batch {
					if err := st.Compact(next - keep); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
