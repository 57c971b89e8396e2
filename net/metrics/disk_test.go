package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"metastore/core/disk"
)

// histogram reads h's sample count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestSyncTimerObservesEverySync(t *testing.T) {
	m := New()
	st := m.NewSyncTimer(disk.NewMem())
	if err := st.MkdirAll("d"); err != nil {
		t.Fatal(err)
	}
	f, err := st.Create("d/wal")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	g, err := st.OpenAppend("d/wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, _ := histogram(t, m.FsyncDuration); n != 4 {
		t.Fatalf("%d syncs observed, want 4", n)
	}
}

func TestApplyObserverRecordsApplyJobs(t *testing.T) {
	m := New()
	obs := m.ApplyObserver()
	obs(10 * time.Millisecond)
	obs(5 * time.Millisecond)
	if n, sum := histogram(t, m.ApplyDuration); n != 2 || sum != 15 {
		t.Fatalf("apply: %d observations summing to %vms, want 2 and 15ms", n, sum)
	}
}

// The server's disk is a SyncTimer over the OS's: its CreateDirect must
// reach the wrapped FS's (a Mem's direct file refuses a misaligned write)
// and still time the file's syncs.
func TestSyncTimerCreatesDirectFiles(t *testing.T) {
	m := New()
	st := m.NewSyncTimer(disk.NewMem())
	if err := st.MkdirAll("d"); err != nil {
		t.Fatal(err)
	}
	f, err := disk.CreateDirect(st, "d/snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, disk.ErrUnaligned) {
		t.Fatalf("misaligned write through the SyncTimer: %v, want ErrUnaligned", err)
	}
	if _, err := f.Write(disk.AlignedBuffer(disk.DirectAlign)[:disk.DirectAlign]); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, _ := histogram(t, m.FsyncDuration); n != 1 {
		t.Fatalf("%d syncs observed, want 1", n)
	}
}
