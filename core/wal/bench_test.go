package wal_test

import (
	"bytes"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/disk"
	"metastore/core/wal"
)

// BenchmarkSave measures Save of one 256-byte entry with sync on Mem: the
// WAL's own CPU and allocation cost per raft Ready, without device latency,
// appending (ZeroAheadBytes 0) and writing over zeros written ahead.
func BenchmarkSave(b *testing.B) {
	for _, zeroAhead := range []int64{0, 1 << 20} {
		b.Run(fmt.Sprintf("zero-ahead=%d", zeroAhead), func(b *testing.B) {
			benchmarkSave(b, wal.Options{SegmentBytes: 1 << 20, ZeroAheadBytes: zeroAhead})
		})
	}
}

func benchmarkSave(b *testing.B, opts wal.Options) {
	m := disk.NewMem()
	w, err := wal.Create(m, dir, opts)
	must(b, err)
	e := ent(1, 1, string(bytes.Repeat([]byte{'x'}, 256)))
	batch := []*raftpb.Entry{e}
	syncs := m.SyncCount()
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		*e.Index = i
		if err := w.Save(nil, batch, true); err != nil {
			b.Fatal(err)
		}
		// Keep memory flat over long runs: compact every 4096 entries.
		if i%4096 == 0 {
			must(b, w.SaveSnapshot(wal.SnapMarker{Index: i, Term: 1}))
			must(b, w.ReleaseTo(i))
		}
	}
	b.ReportMetric(float64(m.SyncCount()-syncs)/float64(b.N), "syncs/op")
	b.ReportMetric(float64(m.BytesWritten())/float64(b.N), "bytes/op")
}
