package main

import (
	"math"
	"testing"
	"time"
)

func TestParseProc(t *testing.T) {
	busy, total, err := machineCPU("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil || busy != ticks(160) || total != ticks(1000) {
		t.Errorf("machineCPU = %v %v %v; want %v %v", busy, total, err, ticks(160), ticks(1000))
	}
	if _, _, err := machineCPU("intr 1 2 3"); err == nil {
		t.Error("machineCPU accepted a file without a cpu line")
	}
	// A command name with spaces and a ')' must not shift the fields.
	stat := "4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 130 0 0 20 0 12 0 55 1000 200"
	if c, err := processCPU(stat); err != nil || c != ticks(380) {
		t.Errorf("processCPU = %v %v; want %v", c, err, ticks(380))
	}
	if n := threadName("77 (rocksdb:low) S 1 4242 4242 0 -1 4194560 1 0 0 0 25 13"); n != "rocksdb:low" {
		t.Errorf("threadName = %q", n)
	}
	if rss, err := residentBytes("Name:\tetcd\nVmPeak:\t 9 kB\nVmRSS:\t  308224 kB\n"); err != nil || rss != 308224<<10 {
		t.Errorf("residentBytes = %d %v", rss, err)
	}
}

// TestOtherLoad: of 10 s of machine capacity, 6 s busy, of which the
// servers took 3 s, the client 1 s and this program 0.5 s: 1.5 s (15%)
// was someone else's.
func TestOtherLoad(t *testing.T) {
	a := sample{machineBusy: 100 * time.Second, machineTotal: 1000 * time.Second, servers: 10 * time.Second, self: time.Second}
	b := sample{machineBusy: 106 * time.Second, machineTotal: 1010 * time.Second, servers: 13 * time.Second, self: 1500 * time.Millisecond}
	if got := otherLoad(a, b, time.Second); math.Abs(got-0.15) > 1e-9 {
		t.Errorf("otherLoad = %v, want 0.15", got)
	}
	// Rounding in /proc can make the difference negative: that is no load.
	if got := otherLoad(a, b, 5*time.Second); got != 0 {
		t.Errorf("otherLoad = %v, want 0", got)
	}
}
