package sim

import (
	"testing"
	"time"
)

// BenchmarkSeed runs whole seeds: a 3-replica cluster for 30 virtual seconds
// under the seed's drawn faults, every check included, and reports how much
// faster than real time the simulator runs and how many seeds a minute that
// makes on one core. (raft's election jitter is not pinned here:
// cryptotest.SetGlobalRandom takes only a *testing.T, and throughput does
// not need replay.)
func BenchmarkSeed(b *testing.B) {
	var virtual time.Duration
	seed := uint64(0)
	start := time.Now()
	for b.Loop() {
		seed++
		rep := Run(Options{Seed: seed, Nodes: 3, Duration: 30 * time.Second})
		if rep.Failed() {
			b.Fatalf("seed %d: %s", seed, rep.Violations[0])
		}
		virtual += time.Duration(rep.VirtualTime)
	}
	wall := time.Since(start)
	b.ReportMetric(virtual.Seconds()/wall.Seconds(), "virtual-s/wall-s")
	b.ReportMetric(float64(seed)/wall.Minutes(), "seeds/min")
}
