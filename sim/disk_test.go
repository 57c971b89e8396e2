package sim

import (
	"errors"
	"strings"
	"testing"

	"metastore/core/disk"
)

func newTestDisk(f Faults) (*Disk, *Host) {
	h := NewHost(1, 1)
	d := NewDisk(disk.NewMem(), h, NewRand(11), f)
	must(d.MkdirAll("/data"))
	return d, h
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// content returns name's bytes on d, or "<missing>".
func content(t *testing.T, d *Disk, name string) string {
	t.Helper()
	f, err := d.Open(name)
	if errors.Is(err, disk.ErrNotExist) {
		return "<missing>"
	}
	must(err)
	must(f.Close())
	return string(readAll(d, name))
}

// durableFile creates name with data, syncs the file and its directory.
func durableFile(d *Disk, name, data string) disk.File {
	f, err := d.Create(name)
	must(err)
	_, err = f.Write([]byte(data))
	must(err)
	must(f.Sync())
	must(d.SyncDir("/data"))
	return f
}

func TestDiskCompletedSyncSurvivesCrash(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	durableFile(d, "/data/a", "hello")
	if d.Pending() != 2 {
		t.Fatalf("pending = %d, want 2 (file + dir)", d.Pending())
	}
	d.CompleteSyncs()
	c := d.Crash(NewRand(1), 0)
	if got := content(t, c.Disk, "/data/a"); got != "hello" {
		t.Fatalf("after crash: %q", got)
	}
	if c.Lossy || c.Disk.Stats.Crashes != 1 || c.Disk.Stats.Completed != 2 {
		t.Fatalf("crash %+v stats %v", c, c.Disk.Stats)
	}
	if _, err := d.Open("/data/a"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("old disk still usable: %v", err)
	}
}

func TestDiskUncompletedSyncLostOnCrash(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	f := durableFile(d, "/data/a", "hello")
	d.CompleteSyncs()
	_, err := f.Write([]byte(" world"))
	must(err)
	must(f.Sync()) // returned, but the busy window has not ended
	c := d.Crash(NewRand(1), 0)
	if got := content(t, c.Disk, "/data/a"); got != "hello" {
		t.Fatalf("after crash: %q, want the completed state only", got)
	}
	if !c.Lossy || c.LostBytes != 6 || c.DroppedSyncs != 1 || c.Disk.Stats.LossyCrashes != 1 {
		t.Fatalf("crash %+v", c)
	}
}

func TestDiskUnsyncedDirEntryLost(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	f, err := d.Create("/data/a")
	must(err)
	_, err = f.Write([]byte("x"))
	must(err)
	must(f.Sync())
	d.CompleteSyncs() // file synced, directory never
	c := d.Crash(NewRand(1), 0)
	if got := content(t, c.Disk, "/data/a"); got != "<missing>" || c.LostNames != 1 {
		t.Fatalf("after crash: %q, crash %+v", got, c)
	}
}

func TestDiskCompleteSyncsUntil(t *testing.T) {
	d, h := newTestDisk(NoFaults())
	h.BeginStep(0)
	f := durableFile(d, "/data/a", "one")
	mid := h.Cursor()
	_, err := f.Write([]byte("two"))
	must(err)
	must(f.Close()) // pending sync keeps the inner file open
	f2, err := d.OpenAppend("/data/a")
	must(err)
	_, err = f2.Write([]byte("three"))
	must(err)
	must(f2.Sync())
	d.CompleteSyncsUntil(mid)
	if d.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", d.Pending())
	}
	if got := content(t, d, "/data/a"); got != "onetwothree" {
		t.Fatalf("completing a sync changed the current bytes: %q", got)
	}
	// Only what the completed sync saw is durable: "two" and "three" were
	// written after it, and "three"'s own sync never completed.
	c := d.Crash(NewRand(1), 0)
	if got := content(t, c.Disk, "/data/a"); got != "one" {
		t.Fatalf("after crash: %q", got)
	}
}

func TestDiskSkipSyncLosesData(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	d.SkipSync = true
	durableFile(d, "/data/a", "hello")
	d.CompleteSyncs()
	c := d.Crash(NewRand(1), 0)
	if got := content(t, c.Disk, "/data/a"); got != "" {
		t.Fatalf("SkipSync kept %q", got)
	}
	if !c.Disk.SkipSync || c.Disk.Stats.SkippedSyncs != 1 {
		t.Fatalf("SkipSync not carried over: %v", c.Disk.Stats)
	}
}

func TestDiskTornTail(t *testing.T) {
	torn := 0
	for seed := range uint64(50) {
		d, _ := newTestDisk(NoFaults())
		f := durableFile(d, "/data/wal", "synced|")
		d.CompleteSyncs()
		_, err := f.Write([]byte(strings.Repeat("u", 100)))
		must(err)
		c := d.Crash(NewRand(seed), 0.5)
		got := content(t, c.Disk, "/data/wal")
		if !strings.HasPrefix(got, "synced|") || len(got) > 107 {
			t.Fatalf("seed %d: crash kept %q", seed, got)
		}
		if c.Torn {
			torn++
			if len(got) <= 7 || len(got) >= 107 || !c.Lossy {
				t.Fatalf("seed %d: Torn but kept %d bytes", seed, len(got))
			}
		}
	}
	if torn == 0 {
		t.Fatal("no torn tail in 50 seeds at keep=0.5")
	}
}

func TestDiskSyncLatencyAndErrors(t *testing.T) {
	f := NoFaults()
	f.SyncLatencyMin, f.SyncLatencyMax = 100_000, 2_000_000
	f.SyncSpikeProb, f.SyncSpikeMax = 1, 300_000_000
	d, h := newTestDisk(f)
	h.BeginStep(0)
	durableFile(d, "/data/a", "x")
	if h.StepCost < 2*(100_000+30_000_000) || h.StepCost > 2*(2_000_000+300_000_000) {
		t.Fatalf("two spiked syncs cost %d", h.StepCost)
	}
	if d.Stats.Syncs != 2 || d.Stats.SlowSyncs != 2 {
		t.Fatalf("stats %v", d.Stats)
	}

	f.SyncErrorProb = 1
	d, _ = newTestDisk(f)
	file, err := d.Create("/data/a")
	must(err)
	if err := file.Sync(); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("Sync = %v, want ErrSyncFailed", err)
	}
	if err := d.SyncDir("/data"); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("SyncDir = %v, want ErrSyncFailed", err)
	}
	if d.Pending() != 0 || d.Stats.SyncErrors != 2 {
		t.Fatalf("pending %d, stats %v", d.Pending(), d.Stats)
	}
	d = d.Crash(NewRand(1), 0).Disk
	d.Calm()
	d = d.Crash(NewRand(1), 0).Disk // Calm survives crashes
	file, err = d.Create("/data/b")
	must(err)
	if err := file.Sync(); err != nil || d.Stats.SlowSyncs != 2 {
		t.Fatalf("calm disk: Sync = %v, stats %v", err, d.Stats)
	}
}

func TestDiskFull(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	f, err := d.Create("/data/a")
	must(err)
	d.SetFull(true)
	if n, err := f.Write([]byte("x")); n != 0 || !errors.Is(err, disk.ErrNoSpace) {
		t.Fatalf("Write on full disk = %d, %v", n, err)
	}
	c := d.Crash(NewRand(1), 1)
	if !c.Disk.Full() || c.Disk.Stats.FullErrors != 1 {
		t.Fatalf("full window not carried over: %v", c.Disk.Stats)
	}
	c.Disk.SetFull(false)
	f, err = c.Disk.OpenAppend("/data/a")
	must(err)
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatalf("Write after full window: %v", err)
	}
}

func TestDiskFileModesAndDeadHandles(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	f := durableFile(d, "/data/a", "abc")
	if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("ReadAt on a created (write-only) file succeeded")
	}
	r, err := d.Open("/data/a")
	must(err)
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("Write on a read-only file succeeded")
	}
	must(f.Close())
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	d.Crash(NewRand(1), 1)
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("handle of a crashed disk: %v", err)
	}
}

// A direct file takes aligned writes and a Truncate to its exact size, and
// is durable as any file once its sync completes; a write off the
// alignment is a replica bug (the OS would refuse it), and panics.
func TestDiskDirectFile(t *testing.T) {
	d, _ := newTestDisk(NoFaults())
	f, err := d.CreateDirect("/data/snap.tmp")
	must(err)
	buf := disk.AlignedBuffer(disk.DirectAlign)[:disk.DirectAlign]
	copy(buf, "direct")
	_, err = f.Write(buf)
	must(err)
	must(f.Truncate(6))
	must(f.Sync())
	must(d.SyncDir("/data"))
	d.CompleteSyncs()
	c := d.Crash(NewRand(2), 0)
	if got := content(t, c.Disk, "/data/snap.tmp"); got != "direct" {
		t.Fatalf("after crash: %q", got)
	}
	g, err := c.Disk.CreateDirect("/data/other")
	must(err)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "unaligned") {
			t.Fatalf("a misaligned direct write: recovered %v, want a panic", r)
		}
	}()
	_, _ = g.Write(buf[:100])
}
