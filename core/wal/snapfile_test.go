package wal_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
	"metastore/core/wal"
)

const snapDir = "data/snap"

func meta(index, term uint64) *raftpb.SnapshotMetadata {
	return &raftpb.SnapshotMetadata{
		Index:     proto.Uint64(index),
		Term:      proto.Uint64(term),
		ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
	}
}

func save(t *testing.T, fsys disk.FS, index, term uint64, payload string) *wal.SnapFile {
	t.Helper()
	f, err := wal.SaveSnapshot(fsys, snapDir, meta(index, term), []byte(payload))
	must(t, err)
	return f
}

func payloadOf(t *testing.T, fsys disk.FS, f *wal.SnapFile) string {
	t.Helper()
	rc, err := f.OpenPayload(fsys)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return string(b)
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
	save(t, m, 10, 2, "state@10")
	// A payload larger than one write piece goes out in several.
	big := strings.Repeat("0123456789abcdef", 40_000)
	saved := save(t, m, 20, 3, big)
	// Saved means durable: a crash that keeps only synced state keeps it.
	crashed := m.CrashClone(rand.New(rand.NewPCG(1, 1)), 0)
	got, err := wal.LoadNewestSnapshot(crashed, snapDir)
	must(t, err)
	if !proto.Equal(got.Meta, meta(20, 3)) || got.Size != saved.Size || got.CRC != saved.CRC {
		t.Fatalf("loaded %v size %d crc %x, want %v size %d crc %x", got.Meta, got.Size, got.CRC, meta(20, 3), saved.Size, saved.CRC)
	}
	if p := payloadOf(t, crashed, got); p != big {
		t.Fatalf("payload of %d bytes differs from the %d saved", len(p), len(big))
	}
	names, _ := m.List(snapDir)
	if want := []string{"0000000000000002-000000000000000a.snap", "0000000000000003-0000000000000014.snap"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
}

// A snapshot sent to a peer arrives whole or not at all: the receiver
// checks it against the size and checksum the sender announced.
func TestReceiveSnapshot(t *testing.T) {
	src, dst := disk.NewMem(), disk.NewMem()
	must(t, src.MkdirAll(snapDir))
	must(t, dst.MkdirAll(snapDir))
	f := save(t, src, 30, 4, strings.Repeat("x", 300_000))
	file := func() []byte {
		rc, err := f.Open(src)
		must(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		must(t, err)
		return b
	}
	body := file()
	if int64(len(body)) != f.Size {
		t.Fatalf("Open read %d bytes, file has %d", len(body), f.Size)
	}
	// Damaged in transit: refused, nothing installed.
	bad := bytes.Clone(body)
	bad[len(bad)/2] ^= 1
	if err := wal.ReceiveSnapshot(dst, snapDir, 4, 30, f.Size, f.CRC, bytes.NewReader(bad)); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("damaged body: %v, want ErrCorrupt", err)
	}
	// Cut short: refused.
	if err := wal.ReceiveSnapshot(dst, snapDir, 4, 30, f.Size, f.CRC, bytes.NewReader(body[:len(body)-10])); err == nil {
		t.Fatal("short body accepted")
	}
	if wal.HasSnapshot(dst, snapDir, 4, 30, f.Size) {
		t.Fatal("a refused body counts as received")
	}
	must(t, wal.ReceiveSnapshot(dst, snapDir, 4, 30, f.Size, f.CRC, bytes.NewReader(body)))
	if !wal.HasSnapshot(dst, snapDir, 4, 30, f.Size) {
		t.Fatal("received snapshot not found")
	}
	// Received is not yet loaded at recovery; installed, it is.
	if s, err := wal.LoadNewestSnapshot(dst, snapDir); s != nil || err != nil {
		t.Fatalf("received snapshot loaded before install: %v, %v", s, err)
	}
	got, err := wal.InstallReceived(dst, snapDir, 4, 30)
	must(t, err)
	if got.CRC != f.CRC || payloadOf(t, dst, got) != payloadOf(t, src, f) {
		t.Fatal("installed snapshot differs from the sent one")
	}
	loaded, err := wal.LoadNewestSnapshot(dst.CrashClone(rand.New(rand.NewPCG(1, 1)), 0), snapDir)
	must(t, err)
	if loaded == nil || loaded.Meta.GetIndex() != 30 {
		t.Fatalf("installed snapshot not durable: %v", loaded)
	}
}

func TestCorruptSnapshotSkipped(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll(snapDir))
	save(t, m, 10, 2, "state@10")
	save(t, m, 20, 3, "state@20")
	name := snapDir + "/0000000000000003-0000000000000014.snap"
	f, err := m.OpenAppend(name)
	must(t, err)
	size, _ := f.Size()
	buf := make([]byte, size)
	f.ReadAt(buf, 0)
	buf[size-6] ^= 0x10 // in the payload
	must(t, f.Truncate(0))
	f.Write(buf)
	must(t, f.Close())
	got, err := wal.LoadNewestSnapshot(m, snapDir)
	must(t, err)
	if got.Meta.GetIndex() != 10 {
		t.Fatalf("loaded index %d, want the intact older snapshot 10", got.Meta.GetIndex())
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
		save(t, m, i*10, 1, "s")
	}
	for _, n := range []string{
		"0000000000000001-0000000000000020.snap.tmp",      // an interrupted save, or a job older than a received snapshot
		"0000000000000001-0000000000000050.snap.tmp",      // a save in progress
		"0000000000000001-0000000000000014.snap.recv",     // received, older than the newest
		"0000000000000001-0000000000000014.snap.recv.tmp", // an older interrupted receive
		"0000000000000001-0000000000000063.snap.recv",     // received, newer: raft may still take it
		"0000000000000001-0000000000000063.snap.recv.tmp", // a receive in progress
	} {
		f, err := m.Create(snapDir + "/" + n)
		must(t, err)
		f.Close()
	}
	must(t, wal.PurgeSnapshots(m, snapDir, 2))
	names, _ := m.List(snapDir)
	want := []string{"0000000000000001-000000000000001e.snap", "0000000000000001-0000000000000020.snap.tmp",
		"0000000000000001-0000000000000028.snap", "0000000000000001-0000000000000050.snap.tmp",
		"0000000000000001-0000000000000063.snap.recv", "0000000000000001-0000000000000063.snap.recv.tmp"}
	if !slices.Equal(names, want) {
		t.Fatalf("after purge: %v, want %v", names, want)
	}
	// At boot no save runs: every unfinished one is a leftover.
	must(t, wal.RemoveSaveLeftovers(m, snapDir))
	names, _ = m.List(snapDir)
	want = slices.DeleteFunc(want, func(n string) bool { return strings.HasSuffix(n, ".snap.tmp") })
	if !slices.Equal(names, want) {
		t.Fatalf("after removing leftovers: %v, want %v", names, want)
	}
}

// A metadata-only snapshot (an engine-held one) reads back as such; a file
// made to send is never a snapshot recovery loads, is found by
// StatSendFile, and goes with RemoveSendFiles (all but those kept) or at
// boot (RemoveSaveLeftovers, with unfinished ones).
func TestMetadataOnlyAndSendFiles(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll(snapDir))
	full := save(t, m, 10, 2, "state@10")
	held := save(t, m, 20, 2, "")
	if full.MetadataOnly() || !held.MetadataOnly() {
		t.Fatalf("MetadataOnly: full %v, metadata-only %v", full.MetadataOnly(), held.MetadataOnly())
	}
	for _, idx := range []uint64{30, 40} {
		w, err := wal.CreateSendFile(m, snapDir, meta(idx, 2))
		must(t, err)
		_, err = w.Write([]byte(strings.Repeat("s", 1000)))
		must(t, err)
		f, err := w.Commit()
		must(t, err)
		got, err := wal.StatSendFile(m, snapDir, 2, idx)
		must(t, err)
		if got.Size != f.Size || got.CRC != f.CRC || payloadOf(t, m, got) != strings.Repeat("s", 1000) {
			t.Fatalf("send file %d reads back as %+v, written %+v", idx, got, f)
		}
	}
	unfinished, err := wal.CreateSendFile(m, snapDir, meta(50, 2))
	must(t, err)
	newest, err := wal.LoadNewestSnapshot(m, snapDir)
	must(t, err)
	if newest.Meta.GetIndex() != 20 || !newest.MetadataOnly() {
		t.Fatalf("newest snapshot %d (metadata only %v): a file to send was taken for a snapshot", newest.Meta.GetIndex(), newest.MetadataOnly())
	}
	must(t, wal.PurgeSnapshots(m, snapDir, 2))
	if _, err := wal.StatSendFile(m, snapDir, 2, 30); err != nil {
		t.Fatalf("PurgeSnapshots removed a file to send: %v", err)
	}
	n, err := wal.RemoveSendFiles(m, snapDir, []uint64{40})
	must(t, err)
	if _, err := wal.StatSendFile(m, snapDir, 2, 30); n != 1 || err == nil {
		t.Fatalf("RemoveSendFiles removed %d; send file 30: %v", n, err)
	}
	if _, err := wal.StatSendFile(m, snapDir, 2, 40); err != nil {
		t.Fatalf("RemoveSendFiles removed the kept file: %v", err)
	}
	unfinished.Abort()
	must(t, wal.RemoveSaveLeftovers(m, snapDir))
	names, err := m.List(snapDir)
	must(t, err)
	for _, n := range names {
		if strings.Contains(n, ".send") {
			t.Fatalf("RemoveSaveLeftovers left %s (all: %v)", n, names)
		}
	}
	if len(names) != 2 {
		t.Fatalf("after boot cleanup: %v, want the two snapshots", names)
	}
}

// A snapshot file is synced as it is written, not only at Commit, so that
// a WAL sync on the same disk never waits behind the whole file; a file
// made for sending is never synced.
func TestSnapshotFileSyncedAsWritten(t *testing.T) {
	for _, send := range []bool{false, true} {
		m := disk.NewMem()
		must(t, m.MkdirAll(snapDir))
		create := wal.CreateSnapshot
		if send {
			create = wal.CreateSendFile
		}
		w, err := create(m, snapDir, meta(7, 1))
		must(t, err)
		before := m.SyncCount()
		piece := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
		const pieces = 512                                       // 32 MiB
		for range pieces {
			if _, err := w.Write(piece); err != nil {
				t.Fatal(err)
			}
		}
		syncs := m.SyncCount() - before
		if send && syncs != 0 || !send && syncs < 3 {
			t.Fatalf("send=%v: %d syncs while writing 32 MiB, want %s", send, syncs, map[bool]string{false: "3 or more", true: "none"}[send])
		}
		f, err := w.Commit()
		must(t, err)
		if p := payloadOf(t, m, f); p != strings.Repeat(string(piece), pieces) {
			t.Fatalf("send=%v: payload of %d bytes, want %d", send, len(p), pieces*len(piece))
		}
	}
}
