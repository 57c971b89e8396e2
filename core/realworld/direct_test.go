package realworld_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
	"metastore/core/realworld"
	"metastore/core/wal"
)

func snapMeta(index uint64) *raftpb.SnapshotMetadata {
	return &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(1), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}
}

// fdFlags returns the open flags of f as /proc shows them.
func fdFlags(t *testing.T, f disk.File) int {
	t.Helper()
	fd, ok := f.(interface{ Fd() uintptr })
	if !ok {
		t.Fatalf("%T has no descriptor", f)
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(flags)
		}
	}
	t.Fatalf("no flags in %q", info)
	return 0
}

// CreateDirect opens with O_DIRECT where the file system takes it (and an
// ordinary file where it refuses it); either way the file takes aligned
// writes and a Truncate to an unaligned size, and reads back what was
// written.
func TestCreateDirectOnOSDisk(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.OpenFile(dir+"/probe", os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o644)
	supported := err == nil
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		t.Fatal(err)
	}
	if supported {
		probe.Close()
	}
	f, err := realworld.OSDisk{}.CreateDirect(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	if got := fdFlags(t, f)&syscall.O_DIRECT != 0; got != supported {
		t.Fatalf("O_DIRECT set: %v; the file system takes it: %v", got, supported)
	}
	buf := disk.AlignedBuffer(3 * disk.DirectAlign)[:3*disk.DirectAlign]
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	if err := disk.CheckDirect(buf, 0); err != nil {
		t.Fatalf("AlignedBuffer: %v", err)
	}
	for range 2 {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	const size = 5*disk.DirectAlign + 123
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	if want := append(bytes.Clone(buf), buf...)[:size]; !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(want))
	}
}

// A snapshot of an odd size written direct on the real disk reads back byte
// for byte with a correct checksum; one abandoned before its rename (a
// kill in the middle of a save) leaves recovery on the previous snapshot,
// and the boot's cleanup removes it.
func TestSnapshotDirectOnOSDisk(t *testing.T) {
	fsys, dir := realworld.OSDisk{}, t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	payload := make([]byte, 3<<20+4321)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	w, err := wal.CreateSnapshot(fsys, dir, snapMeta(10))
	if err != nil {
		t.Fatal(err)
	}
	for rest := payload; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(200_000))
		if _, err := w.Write(append(w.AvailableBuffer(), rest[:k]...)); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	saved, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(saved.Path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(file)) != saved.Size || len(file)%disk.DirectAlign == 0 {
		t.Fatalf("file of %d bytes, SnapFile says %d (want a size off the alignment)", len(file), saved.Size)
	}
	body, sum := file[:len(file)-4], binary.LittleEndian.Uint32(file[len(file)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum || sum != saved.CRC {
		t.Fatalf("stored checksum %08x, SnapFile's %08x, computed %08x", sum, saved.CRC, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	}
	if !bytes.Equal(file[len(file)-4-len(payload):len(file)-4], payload) {
		t.Fatal("the payload read back differs from the one written")
	}

	unfinished, err := wal.CreateSnapshot(fsys, dir, snapMeta(20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unfinished.Write(payload); err != nil {
		t.Fatal(err)
	}
	unfinished.Abort()
	if names, err := fsys.List(dir); err != nil || len(names) != 2 {
		t.Fatalf("after the abandoned save: %v, %v; want the snapshot and the unfinished file", names, err)
	}
	got, err := wal.LoadNewestSnapshot(fsys, dir)
	if err != nil || got == nil || got.Meta.GetIndex() != 10 || got.CRC != saved.CRC {
		t.Fatalf("recovery beside an unfinished save loaded %+v, %v; want the snapshot at 10", got, err)
	}
	if err := wal.RemoveSaveLeftovers(fsys, dir); err != nil {
		t.Fatal(err)
	}
	names, err := fsys.List(dir)
	if err != nil || len(names) != 1 || names[0] != "0000000000000001-000000000000000a.snap" {
		t.Fatalf("after the boot's cleanup: %v, %v; want only the snapshot at 10", names, err)
	}
}
