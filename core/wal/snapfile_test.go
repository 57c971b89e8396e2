package wal_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
	"metastore/core/wal"
)

const snapDir = "data/snap"

func snapshot(index, term uint64, data string) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: []byte(data),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(index),
			Term:      proto.Uint64(term),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		},
	}
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	m := disk.NewMem()
	if s, err := wal.LoadNewestSnapshot(m, snapDir); s != nil || err != nil {
		t.Fatalf("missing dir: %v, %v", s, err)
	}
	must(t, m.MkdirAll(snapDir))
	if s, err := wal.LoadNewestSnapshot(m, snapDir); s != nil || err != nil {
		t.Fatalf("empty dir: %v, %v", s, err)
	}
	older, newer := snapshot(10, 2, "state@10"), snapshot(20, 3, "state@20")
	must(t, wal.SaveSnapshot(m, snapDir, older))
	must(t, wal.SaveSnapshot(m, snapDir, newer))
	// Saved means durable: a crash that keeps only synced state keeps it.
	got, err := wal.LoadNewestSnapshot(m.CrashClone(rand.New(rand.NewPCG(1, 1)), 0), snapDir)
	must(t, err)
	if !proto.Equal(got, newer) {
		t.Fatalf("loaded %v, want %v", got, newer)
	}
	names, _ := m.List(snapDir)
	if want := []string{"0000000000000002-000000000000000a.snap", "0000000000000003-0000000000000014.snap"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
}

func TestCorruptSnapshotSkipped(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll(snapDir))
	must(t, wal.SaveSnapshot(m, snapDir, snapshot(10, 2, "state@10")))
	must(t, wal.SaveSnapshot(m, snapDir, snapshot(20, 3, "state@20")))
	name := snapDir + "/0000000000000003-0000000000000014.snap"
	f, err := m.OpenAppend(name)
	must(t, err)
	size, _ := f.Size()
	buf := make([]byte, size)
	f.ReadAt(buf, 0)
	buf[size/2] ^= 0x10
	must(t, f.Truncate(0))
	f.Write(buf)
	must(t, f.Close())
	got, err := wal.LoadNewestSnapshot(m, snapDir)
	must(t, err)
	if got.GetMetadata().GetIndex() != 10 {
		t.Fatalf("loaded index %d, want the intact older snapshot 10", got.GetMetadata().GetIndex())
	}
	// A file whose contents disagree with its name is skipped too.
	must(t, m.Rename(snapDir+"/0000000000000002-000000000000000a.snap", snapDir+"/0000000000000009-0000000000000063.snap"))
	got, err = wal.LoadNewestSnapshot(m, snapDir)
	if got != nil || err != nil {
		t.Fatalf("only damaged files: %v, %v", got, err)
	}
}

func TestPurgeSnapshots(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll(snapDir))
	for i := uint64(1); i <= 4; i++ {
		must(t, wal.SaveSnapshot(m, snapDir, snapshot(i*10, 1, "s")))
	}
	f, err := m.Create(snapDir + "/0000000000000001-0000000000000050.snap.tmp") // an interrupted save
	must(t, err)
	f.Close()
	must(t, wal.PurgeSnapshots(m, snapDir, 2))
	names, _ := m.List(snapDir)
	if want := []string{"0000000000000001-000000000000001e.snap", "0000000000000001-0000000000000028.snap"}; !slices.Equal(names, want) {
		t.Fatalf("after purge: %v, want %v", names, want)
	}
}
