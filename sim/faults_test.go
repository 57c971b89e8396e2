package sim

import (
	"slices"
	"strings"
	"testing"
)

func TestDrawFaultsDeterministicAndInRange(t *testing.T) {
	if a, b := DrawFaults(NewRand(42)), DrawFaults(NewRand(42)); a != b {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	offSeen := map[string]bool{}
	onSeen := map[string]bool{}
	note := func(name string, on bool) {
		if on {
			onSeen[name] = true
		} else {
			offSeen[name] = true
		}
	}
	for seed := range uint64(200) {
		f := DrawFaults(NewRand(seed))
		switch {
		case f.NetDropProb < 0 || f.NetDropProb > 0.30,
			f.NetDupProb < 0 || f.NetDupProb > 0.05,
			f.NetLatencyMin < 500_000 || f.NetLatencyMax > 20_000_000 || f.NetLatencyMin > f.NetLatencyMax,
			f.SyncLatencyMin < 100_000 || f.SyncLatencyMax > 2_000_000,
			f.SyncErrorProb > 0.002,
			f.KeepUnsynced < 0 || f.KeepUnsynced > 1,
			f.ClockSkewMax < 1 || f.ClockSkewMax > 2:
			t.Fatalf("seed %d out of range:\n%v", seed, f)
		}
		note("drop", f.NetDropProb > 0)
		note("dup", f.NetDupProb > 0)
		note("partition", f.PartitionEvery > 0)
		note("hold", f.HoldEvery > 0)
		note("spike", f.SyncSpikeProb > 0)
		note("syncerr", f.SyncErrorProb > 0)
		note("full", f.DiskFullEvery > 0)
		note("crash", f.CrashEvery > 0)
		note("pause", f.PauseEvery > 0)
		note("skew", f.ClockSkewMax > 1)
	}
	for _, k := range []string{"drop", "dup", "partition", "hold", "spike", "syncerr", "full", "crash", "pause", "skew"} {
		if !onSeen[k] || !offSeen[k] {
			t.Errorf("fault %q: on seen %v, off seen %v over 200 seeds; want both", k, onSeen[k], offSeen[k])
		}
	}
}

func TestFaultsStringSortedKeyValue(t *testing.T) {
	s := DrawFaults(NewRand(1)).String()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 20 {
		t.Fatalf("only %d lines:\n%s", len(lines), s)
	}
	if !slices.IsSorted(lines) {
		t.Fatalf("lines not sorted:\n%s", s)
	}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, "="); !ok || k == "" || v == "" {
			t.Fatalf("bad line %q", l)
		}
	}
}

func TestDrawClockRateRange(t *testing.T) {
	f := Faults{ClockSkewMax: 2}
	r := NewRand(3)
	var slow, fast bool
	for range 1000 {
		rate := f.DrawClockRate(r)
		if rate < 0.5 || rate > 2 {
			t.Fatalf("rate %v outside [0.5, 2]", rate)
		}
		slow = slow || rate < 1
		fast = fast || rate > 1
	}
	if !slow || !fast {
		t.Fatalf("rates not on both sides of 1: slow=%v fast=%v", slow, fast)
	}
	if got := (Faults{ClockSkewMax: 1}).DrawClockRate(r); got != 1 {
		t.Fatalf("no skew gave rate %v", got)
	}
}
