package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Faults holds every fault rate of one run. DrawFaults draws a different mix
// per seed (swarm testing): a run that never partitions but crashes often
// finds different bugs from one that partitions constantly. A zero rate,
// probability or interval switches that fault off.
//
// The "Every" fields are mean intervals for the driver's fault scheduler
// (draw actual gaps with ExpInterval); the "For" fields are mean durations.
type Faults struct {
	// Network, per message.
	NetDropProb float64 // mean per-link drop probability; each link draws around it
	NetDupProb  float64 // per-message duplication probability
	// Each link draws a base latency in [NetLatencyMin, NetLatencyMax];
	// every message adds an exponential tail of mean NetLatencyTail.
	NetLatencyMin  time.Duration
	NetLatencyMax  time.Duration
	NetLatencyTail time.Duration
	// With probability NetDelayProb a message is delayed by up to
	// NetDelayMax more, which reorders it behind later messages.
	NetDelayProb float64
	NetDelayMax  time.Duration

	// Network, scheduled by the driver.
	PartitionEvery time.Duration
	PartitionFor   time.Duration
	HoldEvery      time.Duration // a link queues its messages...
	HoldFor        time.Duration // ...then delivers them all at once

	// Disk.
	SyncLatencyMin time.Duration // every Sync/SyncDir costs a latency in [Min, Max]
	SyncLatencyMax time.Duration
	SyncSpikeProb  float64       // probability a sync is slow...
	SyncSpikeMax   time.Duration // ...by up to this much more
	SyncErrorProb  float64       // probability a Sync fails (fatal to the replica)
	KeepUnsynced   float64       // on a crash, probability each unsynced write survives
	DiskFullEvery  time.Duration
	DiskFullFor    time.Duration

	// Process.
	CrashEvery      time.Duration
	PauseEvery      time.Duration
	PauseFor        time.Duration
	RestartDelayMax time.Duration
	// MemberChangeEvery is the mean gap between membership changes (remove
	// a member; add one as a learner, then promote it).
	MemberChangeEvery time.Duration
	// ClockSkewMax is the largest clock-rate factor: each node's clock runs
	// at a rate in [1/ClockSkewMax, ClockSkewMax]; 1 means no skew.
	ClockSkewMax float64
}

// NoFaults returns a calm world: small fixed latencies, nothing fails.
func NoFaults() Faults {
	return Faults{
		NetLatencyMin:  time.Millisecond,
		NetLatencyMax:  time.Millisecond,
		SyncLatencyMin: 500 * time.Microsecond,
		SyncLatencyMax: 500 * time.Microsecond,
		ClockSkewMax:   1,
	}
}

// DrawFaults draws a fault mix from r. It makes the same number of draws
// whatever it decides, so the mix of one kind never shifts another's.
func DrawFaults(r *rand.Rand) Faults {
	// on decides whether a fault kind is present at all in this run.
	on := func(p float64) bool { return chance(r, p) }
	ms := func(lo, hi float64) time.Duration {
		return time.Duration(uniformFloat(r, lo, hi) * float64(time.Millisecond))
	}
	var f Faults

	drop, dropOn := uniformFloat(r, 0, 0.30), on(0.6)
	dup, dupOn := uniformFloat(r, 0, 0.05), on(0.5)
	f.NetLatencyMin = ms(0.5, 2)
	f.NetLatencyMax = f.NetLatencyMin + ms(0, 18)
	f.NetLatencyTail = ms(0, 5)
	delayP, delayMax, delayOn := uniformFloat(r, 0, 0.05), ms(20, 1000), on(0.5)
	partEvery, partFor, partOn := ms(500, 10_000), ms(100, 5_000), on(0.7)
	holdEvery, holdFor, holdOn := ms(200, 5_000), ms(50, 2_000), on(0.5)

	f.SyncLatencyMin = ms(0.1, 1)
	f.SyncLatencyMax = f.SyncLatencyMin + ms(0, 1)
	spikeP, spikeMax, spikeOn := uniformFloat(r, 0, 0.05), ms(20, 500), on(0.6)
	errP, errOn := uniformFloat(r, 0, 0.002), on(0.25)
	keep := r.Float64()
	fullEvery, fullFor, fullOn := ms(1_000, 20_000), ms(50, 2_000), on(0.3)

	crashEvery, crashOn := ms(500, 10_000), on(0.7)
	pauseEvery, pauseFor, pauseOn := ms(500, 10_000), ms(50, 3_000), on(0.5)
	f.RestartDelayMax = ms(0, 2_000)
	skew, skewOn := uniformFloat(r, 1, 2), on(0.6)

	if dropOn {
		f.NetDropProb = drop
	}
	if dupOn {
		f.NetDupProb = dup
	}
	if delayOn {
		f.NetDelayProb, f.NetDelayMax = delayP, delayMax
	}
	if partOn {
		f.PartitionEvery, f.PartitionFor = partEvery, partFor
	}
	if holdOn {
		f.HoldEvery, f.HoldFor = holdEvery, holdFor
	}
	if spikeOn {
		f.SyncSpikeProb, f.SyncSpikeMax = spikeP, spikeMax
	}
	if errOn {
		f.SyncErrorProb = errP
	}
	f.KeepUnsynced = keep
	if fullOn {
		f.DiskFullEvery, f.DiskFullFor = fullEvery, fullFor
	}
	if crashOn {
		f.CrashEvery = crashEvery
	}
	if pauseOn {
		f.PauseEvery, f.PauseFor = pauseEvery, pauseFor
	}
	f.ClockSkewMax = 1
	if skewOn {
		f.ClockSkewMax = skew
	}
	// Drawn last, so adding it shifted no other fault's draws.
	memberEvery, memberOn := ms(3_000, 15_000), on(0.4)
	if memberOn {
		f.MemberChangeEvery = memberEvery
	}
	return f
}

// String prints one key=value per line, sorted by key, for the seed banner.
func (f Faults) String() string {
	kv := map[string]string{
		"net_drop_prob":       prob(f.NetDropProb),
		"net_dup_prob":        prob(f.NetDupProb),
		"net_latency_min":     f.NetLatencyMin.String(),
		"net_latency_max":     f.NetLatencyMax.String(),
		"net_latency_tail":    f.NetLatencyTail.String(),
		"net_delay_prob":      prob(f.NetDelayProb),
		"net_delay_max":       f.NetDelayMax.String(),
		"partition_every":     f.PartitionEvery.String(),
		"partition_for":       f.PartitionFor.String(),
		"hold_every":          f.HoldEvery.String(),
		"hold_for":            f.HoldFor.String(),
		"sync_latency_min":    f.SyncLatencyMin.String(),
		"sync_latency_max":    f.SyncLatencyMax.String(),
		"sync_spike_prob":     prob(f.SyncSpikeProb),
		"sync_spike_max":      f.SyncSpikeMax.String(),
		"sync_error_prob":     prob(f.SyncErrorProb),
		"keep_unsynced":       prob(f.KeepUnsynced),
		"disk_full_every":     f.DiskFullEvery.String(),
		"disk_full_for":       f.DiskFullFor.String(),
		"crash_every":         f.CrashEvery.String(),
		"pause_every":         f.PauseEvery.String(),
		"pause_for":           f.PauseFor.String(),
		"restart_delay_max":   f.RestartDelayMax.String(),
		"clock_skew_max":      fmt.Sprintf("%.3f", f.ClockSkewMax),
		"member_change_every": f.MemberChangeEvery.String(),
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, kv[k])
	}
	return b.String()
}

func prob(p float64) string { return fmt.Sprintf("%.5f", p) }

// DrawClockRate draws a node's clock rate in [1/ClockSkewMax, ClockSkewMax]:
// as often slower as faster than virtual time. It always makes two draws.
func (f Faults) DrawClockRate(r *rand.Rand) float64 {
	fast := r.IntN(2) == 0
	rate := uniformFloat(r, 1, max(f.ClockSkewMax, 1))
	if fast {
		return rate
	}
	return 1 / rate
}

// ExpInterval draws an exponential gap of the given mean (at least 1 ns);
// 0 when mean <= 0, meaning "never".
func ExpInterval(r *rand.Rand, mean time.Duration) int64 {
	if mean <= 0 {
		return 0
	}
	return max(int64(r.ExpFloat64()*float64(mean)), 1)
}
