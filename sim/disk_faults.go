package sim

import (
	"errors"
	"fmt"
)

// ErrSyncFailed is returned (wrapped) by an injected fsync failure. It is
// fatal to the replica: what was written may or may not be durable, and
// retrying could wrongly report it durable (the "fsyncgate" lesson).
var ErrSyncFailed = errors.New("sim: fsync failed (injected)")

// SetFull starts (true) or ends (false) a disk-full window: meanwhile every
// File.Write fails with disk.ErrNoSpace. The window survives Crash.
func (d *Disk) SetFull(full bool) { d.full = full }

// Full reports whether the disk is in a disk-full window.
func (d *Disk) Full() bool { return d.full }

// fsync charges one fsync's latency to the host, then fails it with the
// run's error probability. It always makes the same draws for a given
// outcome of the spike coin.
func (d *Disk) fsync(op string) error {
	f := d.faults
	lat := uniformInt64(d.rng, int64(f.SyncLatencyMin), int64(f.SyncLatencyMax))
	if chance(d.rng, f.SyncSpikeProb) {
		// Spikes are tens to hundreds of ms: at least a tenth of the max.
		lat += uniformInt64(d.rng, int64(f.SyncSpikeMax)/10, int64(f.SyncSpikeMax))
		d.Stats.SlowSyncs++
	}
	d.host.AddCost(lat)
	d.Stats.Syncs++
	if chance(d.rng, f.SyncErrorProb) {
		d.Stats.SyncErrors++
		return fmt.Errorf("%s: %w", op, ErrSyncFailed)
	}
	return nil
}

// Calm stops injected fsync errors and latency spikes (base latency stays)
// on this disk and the disks its crashes return. It leaves SkipSync (a
// canary, not a fault) and the disk-full window (SetFull) alone.
func (d *Disk) Calm() {
	d.faults.SyncErrorProb, d.faults.SyncSpikeProb = 0, 0
}
