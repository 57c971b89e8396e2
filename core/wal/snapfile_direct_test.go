package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"metastore/core/disk"
	"metastore/core/wal"
)

// plainFS hides Mem's CreateDirect: an FS that makes no direct files.
type plainFS struct{ disk.FS }

// readWhole returns the whole file at name and checks its trailing
// checksum (CRC-32C of everything before it) independently of wal.
func readWhole(t *testing.T, fsys disk.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	must(t, err)
	defer f.Close()
	size, err := f.Size()
	must(t, err)
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)); got != sum {
		t.Fatalf("%s: stored checksum %08x, computed %08x", name, sum, got)
	}
	return b
}

// A snapshot is written as a direct file, whose writes Mem refuses unless
// aligned: payloads of every awkward size (ending on, just before and just
// after an alignment boundary or a write piece, written in place through
// AvailableBuffer or copied) read back byte for byte, at their exact size,
// with a correct checksum, and the same bytes as through an FS without
// direct files.
func TestSnapshotDirectFileSizes(t *testing.T) {
	empty, err := wal.SaveSnapshot(disk.NewMem(), ".", meta(9, 2), nil)
	must(t, err)
	hdr := int(empty.Size - 4)
	rng := rand.New(rand.NewPCG(3, 4))
	var sizes []int
	for _, edge := range []int{disk.DirectAlign, 2 * disk.DirectAlign, 1 << 20, 3 << 20} {
		for d := -2; d <= 2; d++ {
			if n := edge - hdr - 4 + d; n >= 0 {
				sizes = append(sizes, n) // file of edge+d bytes
			}
		}
	}
	sizes = append(sizes, 0, 1, 777_777)
	for _, n := range sizes {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		var files [][]byte
		for _, fsys := range []disk.FS{disk.NewMem(), plainFS{disk.NewMem()}} {
			must(t, fsys.MkdirAll(snapDir))
			w, err := wal.CreateSnapshot(fsys, snapDir, meta(9, 2))
			must(t, err)
			for rest := payload; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(100_000))
				if rng.IntN(2) == 0 {
					// In place, as mvcc.WriteSnapshot encodes: what does not fit
					// in the lent room is copied by Write.
					if _, err := w.Write(append(w.AvailableBuffer(), rest[:k]...)); err != nil {
						t.Fatal(err)
					}
				} else if _, err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			f, err := w.Commit()
			if err != nil {
				t.Fatalf("payload of %d bytes: %v", n, err)
			}
			if f.Size != int64(hdr+n+4) {
				t.Fatalf("payload of %d bytes: file of %d bytes, want %d", n, f.Size, hdr+n+4)
			}
			if p := payloadOf(t, fsys, f); p != string(payload) {
				t.Fatalf("payload of %d bytes read back differently", n)
			}
			// Committed means durable, the exact size included.
			crashed := fsys
			if m, ok := fsys.(*disk.Mem); ok {
				crashed = m.CrashClone(rand.New(rand.NewPCG(uint64(n), 1)), 0)
			}
			got, err := wal.LoadNewestSnapshot(crashed, snapDir)
			if err != nil || got == nil || got.Size != f.Size || got.CRC != f.CRC {
				t.Fatalf("payload of %d bytes: after a crash loaded %+v, %v; want size %d crc %08x", n, got, err, f.Size, f.CRC)
			}
			files = append(files, readWhole(t, crashed, f.Path))
		}
		if !bytes.Equal(files[0], files[1]) {
			t.Fatalf("payload of %d bytes: the direct file differs from the ordinary one", n)
		}
	}
}

// A crash in the middle of a direct snapshot's save leaves its .tmp file,
// synced in part or not: recovery loads the previous snapshot, and the
// boot's cleanup removes the leftover.
func TestSnapshotDirectCrashBeforeRename(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll(snapDir))
	prev := save(t, m, 10, 1, "the previous snapshot")
	w, err := wal.CreateSnapshot(m, snapDir, meta(20, 1))
	must(t, err)
	piece := bytes.Repeat([]byte{0xab}, 3<<20+5) // past a sync and a piece
	if _, err := w.Write(piece); err != nil {
		t.Fatal(err)
	}
	// A kill leaves the file as written; a crash of the machine keeps
	// any part of it, or its name not at all (it was never synced).
	states := []disk.FS{}
	for seed := range uint64(8) {
		states = append(states, m.CrashClone(rand.New(rand.NewPCG(seed, 2)), 0))
	}
	states = append(states, m)
	const tmp = "0000000000000001-0000000000000014.snap.tmp"
	for i, fsys := range states {
		names, err := fsys.List(snapDir)
		must(t, err)
		if fsys == disk.FS(m) && !slices.Contains(names, tmp) {
			t.Fatalf("files after the kill: %v, want the unfinished %s among them", names, tmp)
		}
		got, err := wal.LoadNewestSnapshot(fsys, snapDir)
		if err != nil || got == nil || got.Meta.GetIndex() != 10 || got.CRC != prev.CRC {
			t.Fatalf("state %d: recovery loaded %+v, %v; want the snapshot at 10", i, got, err)
		}
		must(t, wal.RemoveSaveLeftovers(fsys, snapDir))
		names, err = fsys.List(snapDir)
		must(t, err)
		if len(names) != 1 || names[0] != "0000000000000001-000000000000000a.snap" {
			t.Fatalf("state %d: after the boot's cleanup: %v, want only the snapshot at 10", i, names)
		}
	}
	w.Abort()
}
