package disk_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"metastore/core/disk"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, fs disk.FS, name, data string, sync bool) disk.File {
	t.Helper()
	f, err := fs.Create(name)
	must(t, err)
	_, err = f.Write([]byte(data))
	must(t, err)
	if sync {
		must(t, f.Sync())
	}
	return f
}

func readFile(t *testing.T, fs disk.FS, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	must(t, err)
	defer f.Close()
	size, err := f.Size()
	must(t, err)
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return string(buf)
}

// dump renders every file of m under dir, for comparing whole states.
func dump(t *testing.T, m *disk.Mem, dir string) string {
	t.Helper()
	names, err := m.List(dir)
	must(t, err)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q\n", n, readFile(t, m, dir+"/"+n))
	}
	return b.String()
}

func TestMemDirectorySemantics(t *testing.T) {
	m := disk.NewMem()
	if _, err := m.Create("d/a"); !errors.Is(err, disk.ErrNotExist) {
		t.Fatalf("Create in missing dir: %v, want ErrNotExist", err)
	}
	must(t, m.MkdirAll("d/sub"))
	writeFile(t, m, "d/c", "", false)
	writeFile(t, m, "d/a", "", false)
	names, err := m.List("d")
	must(t, err)
	if want := []string{"a", "c", "sub"}; !slices.Equal(names, want) {
		t.Fatalf("List = %v, want %v", names, want)
	}
	if err := m.Remove("d/missing"); !errors.Is(err, disk.ErrNotExist) {
		t.Fatalf("Remove missing: %v", err)
	}
	if _, err := m.Open("d/missing"); !errors.Is(err, disk.ErrNotExist) {
		t.Fatalf("Open missing: %v", err)
	}
	if _, err := m.List("nodir"); !errors.Is(err, disk.ErrNotExist) {
		t.Fatalf("List missing: %v", err)
	}
	must(t, m.Rename("d/a", "d/b"))
	names, _ = m.List("d")
	if want := []string{"b", "c", "sub"}; !slices.Equal(names, want) {
		t.Fatalf("List after rename = %v, want %v", names, want)
	}
}

func TestMemFileModes(t *testing.T) {
	m := disk.NewMem()
	f := writeFile(t, m, "f", "hello", false)
	if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("ReadAt on a Create'd (write-only) file succeeded")
	}
	r, err := m.Open("f")
	must(t, err)
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("Write on a read-only file succeeded")
	}
	buf := make([]byte, 8)
	n, err := r.ReadAt(buf, 2)
	if n != 3 || err != io.EOF || string(buf[:n]) != "llo" {
		t.Fatalf("ReadAt past end = %d, %v, %q", n, err, buf[:n])
	}
	a, err := m.OpenAppend("f")
	must(t, err)
	must(t, a.Truncate(2))
	_, err = a.Write([]byte("yz"))
	must(t, err)
	if got := readFile(t, m, "f"); got != "heyz" {
		t.Fatalf("after truncate+append: %q", got)
	}
	must(t, a.Close())
	if err := a.Close(); err == nil {
		t.Fatal("double Close succeeded")
	}
}

func TestMemCrashDropsUnsynced(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll("d"))
	writeFile(t, m, "d/durable", "synced", true)
	must(t, m.SyncDir("d"))
	f, err := m.OpenAppend("d/durable")
	must(t, err)
	_, err = f.Write([]byte("+tail"))
	must(t, err)
	writeFile(t, m, "d/unnamed", "data", true) // synced data, name never synced

	c := m.CrashClone(rand.New(rand.NewPCG(1, 2)), 0)
	if got, want := dump(t, c, "d"), "durable=\"synced\"\n"; got != want {
		t.Fatalf("crash(0):\n%s\nwant\n%s", got, want)
	}
	c = m.CrashClone(rand.New(rand.NewPCG(1, 2)), 1)
	if got, want := dump(t, c, "d"), "durable=\"synced+tail\"\nunnamed=\"data\"\n"; got != want {
		t.Fatalf("crash(1):\n%s\nwant\n%s", got, want)
	}
	// The original is untouched by cloning.
	if got := readFile(t, m, "d/durable"); got != "synced+tail" {
		t.Fatalf("original changed: %q", got)
	}
}

func TestMemCrashTruncateBelowDurable(t *testing.T) {
	m := disk.NewMem()
	f := writeFile(t, m, "f", "0123456789", true)
	must(t, m.SyncDir("."))
	must(t, f.Close())
	a, err := m.OpenAppend("f")
	must(t, err)
	must(t, a.Truncate(4))
	_, err = a.Write([]byte("ab"))
	must(t, err)
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 64 {
		seen[readFile(t, m.CrashClone(rng, 0.5), "f")] = true
	}
	// The changes survive in order: the cut alone, the cut and part of
	// the write, or all of it.
	if len(seen) != 4 || !seen["0123456789"] || !seen["0123"] || !seen["0123a"] || !seen["0123ab"] {
		t.Fatalf("outcomes %v, want the durable bytes or an ordered prefix of the changes", seen)
	}
	// Create over an existing file truncates the same file: durable bytes stay.
	writeFile(t, m, "f", "new", false)
	if got := readFile(t, m.CrashClone(rng, 0), "f"); got != "0123456789" {
		t.Fatalf("crash after re-Create: %q", got)
	}
}

func TestMemCrashTornTail(t *testing.T) {
	m := disk.NewMem()
	f := writeFile(t, m, "f", "base", true)
	must(t, m.SyncDir("."))
	_, err := f.Write([]byte("0123456789"))
	must(t, err)
	lengths := map[int]bool{}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		got := readFile(t, m.CrashClone(rng, 0.5), "f")
		if !strings.HasPrefix("base0123456789", got) || len(got) < 4 {
			t.Fatalf("crash left %q, not a prefix extending the durable bytes", got)
		}
		lengths[len(got)] = true
	}
	if len(lengths) < 5 {
		t.Fatalf("only %d distinct torn lengths in 200 crashes", len(lengths))
	}
}

func TestMemCrashDeterministic(t *testing.T) {
	m := disk.NewMem()
	must(t, m.MkdirAll("d"))
	for i := range 20 {
		f := writeFile(t, m, fmt.Sprintf("d/f%02d", i), strings.Repeat("x", i), i%3 == 0)
		_, err := f.Write([]byte("unsynced"))
		must(t, err)
		if i == 10 {
			must(t, m.SyncDir("d"))
		}
	}
	a := dump(t, m.CrashClone(rand.New(rand.NewPCG(7, 8)), 0.5), "d")
	b := dump(t, m.CrashClone(rand.New(rand.NewPCG(7, 8)), 0.5), "d")
	if a != b {
		t.Fatalf("same seed, different crashes:\n%s\n---\n%s", a, b)
	}
	c := dump(t, m.CrashClone(rand.New(rand.NewPCG(9, 9)), 0.5), "d")
	if a == c {
		t.Fatal("different seeds gave identical crashes of 20 half-synced files")
	}
}

func TestMemCloneIsolation(t *testing.T) {
	m := disk.NewMem()
	f := writeFile(t, m, "f", "abc", true)
	c := m.Clone()
	_, err := f.Write([]byte("-old"))
	must(t, err)
	cf, err := c.OpenAppend("f")
	must(t, err)
	_, err = cf.Write([]byte("-new"))
	must(t, err)
	if got := readFile(t, m, "f"); got != "abc-old" {
		t.Fatalf("old Mem sees %q", got)
	}
	if got := readFile(t, c, "f"); got != "abc-new" {
		t.Fatalf("clone sees %q", got)
	}
	// Clone keeps durable state: the name was never SyncDir'ed.
	if names, _ := c.CrashClone(rand.New(rand.NewPCG(1, 1)), 0).List("."); len(names) != 0 {
		t.Fatalf("crash of clone kept unsynced names %v", names)
	}
}

func TestMemUnsyncedRenameIsPerName(t *testing.T) {
	m := disk.NewMem()
	writeFile(t, m, "tmp", "payload", true)
	must(t, m.SyncDir("."))
	must(t, m.Rename("tmp", "final"))
	if got := dump(t, m.CrashClone(rand.New(rand.NewPCG(1, 1)), 0), "."); got != "tmp=\"payload\"\n" {
		t.Fatalf("crash(0) after unsynced rename: %q", got)
	}
	// Both names surviving must not make them one file.
	c := m.Clone()
	outcomes := map[string]bool{}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 64 {
		cc := c.CrashClone(rng, 0.5)
		outcomes[dump(t, cc, ".")] = true
		if names, _ := cc.List("."); len(names) == 2 {
			writeFile(t, cc, "tmp", "", false)
			if got := readFile(t, cc, "final"); got != "payload" {
				t.Fatalf("names share a file after crash: final=%q", got)
			}
		}
	}
	if len(outcomes) != 4 {
		t.Fatalf("outcomes of an unsynced rename: %v, want all 4", outcomes)
	}
}

func TestMemCounters(t *testing.T) {
	m := disk.NewMem()
	writeFile(t, m, "a", "12345", true)
	must(t, m.SyncDir("."))
	if m.SyncCount() != 2 || m.BytesWritten() != 5 {
		t.Fatalf("SyncCount=%d BytesWritten=%d, want 2 and 5", m.SyncCount(), m.BytesWritten())
	}
}

// TestMemCrashOverwrites covers positional writes over durable and over
// unsynced bytes: a crash keeps an ordered prefix of the writes, each
// write's own bytes even when a later write replaced them, and the durable
// bytes below.
func TestMemCrashOverwrites(t *testing.T) {
	m := disk.NewMem()
	f := writeFile(t, m, "f", "..........", true)
	must(t, m.SyncDir("."))
	for _, w := range []struct {
		p   string
		off int64
	}{{"abc", 2}, {"XY", 3}, {"zz", 11}} {
		n, err := f.WriteAt([]byte(w.p), w.off)
		must(t, err)
		if n != len(w.p) {
			t.Fatalf("WriteAt wrote %d of %d", n, len(w.p))
		}
	}
	if got := readFile(t, m, "f"); got != "..aXY.....\x00zz" {
		t.Fatalf("current bytes %q", got)
	}
	want := map[string]bool{
		"..........": true, // durable
		"..a.......": true, "..ab......": true, "..abc.....": true,
		"..aXc.....": true, "..aXY.....": true,
		"..aXY.....\x00z": true, "..aXY.....\x00zz": true,
	}
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 400 {
		got := readFile(t, m.CrashClone(rng, 0.7), "f")
		if !want[got] {
			t.Fatalf("crash left %q, not the durable bytes plus an ordered prefix of the writes", got)
		}
		seen[got] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("outcomes %v, want all of %v", seen, want)
	}
	// A clone keeps the durable bytes under the overwrites.
	if got := readFile(t, m.Clone().CrashClone(nil, 0), "f"); got != ".........." {
		t.Fatalf("crash(0) of a clone: %q", got)
	}
	must(t, f.Sync())
	if got := readFile(t, m.CrashClone(nil, 0), "f"); got != "..aXY.....\x00zz" {
		t.Fatalf("crash(0) after Sync: %q", got)
	}
}
