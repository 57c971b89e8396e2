package sim

import (
	"fmt"
	"time"
)

// ratePPMOne is a clock rate of 1.0 in parts per million.
const ratePPMOne = 1_000_000

// Host is one node's machine, shared by its Disk and its Endpoint.
//
// The driver brackets every call into the replica with BeginStep(now); while
// the replica runs, each fsync adds its latency to StepCost, and every
// message departs at Cursor(). After the call the node is busy until
// Cursor(): the driver delivers nothing to it and starts no other step
// before then, exactly as a production loop blocked in fsync. The node's
// append stage runs on its own timeline: the driver brackets a job with
// its own BeginStep and restores the step's cursor afterwards, so the
// job's fsyncs do not make the node busy.
type Host struct {
	ID uint64
	// StepStart is the virtual time the node began its current step.
	StepStart int64
	// StepCost is the virtual time spent inside the current step so far.
	StepCost int64
	// Incarnation counts the node's crashes; the driver bumps it (Crash).
	Incarnation int
	// Alive is false between a crash and the restart.
	Alive bool

	ratePPM   int64 // local clock speed relative to virtual time
	lastClock time.Duration
}

// NB: Host satisfies core.Clock (and Endpoint core.Network) structurally;
// this package's world files do not import core, so they build and test
// while core is being changed.
var _ interface{ Now() time.Duration } = (*Host)(nil)

// NewHost returns a live host whose local clock runs at rate times the speed
// of virtual time (rate is clamped to [0.01, 100]; 1 means no skew).
func NewHost(id uint64, rate float64) *Host {
	rate = min(max(rate, 0.01), 100)
	return &Host{ID: id, Alive: true, ratePPM: int64(rate * ratePPMOne)}
}

// Rate returns the host's clock rate relative to virtual time.
func (h *Host) Rate() float64 { return float64(h.ratePPM) / ratePPMOne }

// BeginStep starts a step at virtual time now: StepStart=now, StepCost=0.
func (h *Host) BeginStep(now int64) {
	h.StepStart = now
	h.StepCost = 0
}

// AddCost charges d nanoseconds of virtual time to the current step.
func (h *Host) AddCost(d int64) {
	if d > 0 {
		h.StepCost += d
	}
}

// Cursor is the virtual time of "now, inside the step": StepStart+StepCost.
// It is also the time the node stops being busy once the step returns.
func (h *Host) Cursor() int64 { return h.StepStart + h.StepCost }

// Crash marks the host dead and bumps its incarnation. The caller also
// tells Net (Net.Crashed) and replaces the Disk (Disk.Crash).
func (h *Host) Crash() {
	h.Alive = false
	h.Incarnation++
}

// Restart marks the host alive again (a new process on the same machine;
// the local clock keeps running, it is the machine's monotonic clock).
func (h *Host) Restart() { h.Alive = true }

// Now implements core.Clock: the cursor scaled by the host's rate. It never
// goes backwards, even if a driver starts a step before the previous one's
// cursor (it then stands still until virtual time catches up).
func (h *Host) Now() time.Duration {
	c := h.Cursor()
	// Split the product so cursor*rate cannot overflow int64 for any
	// reachable virtual time; integer math keeps it identical on every arch.
	local := time.Duration(c/ratePPMOne*h.ratePPM + c%ratePPMOne*h.ratePPM/ratePPMOne)
	if local > h.lastClock {
		h.lastClock = local
	}
	return h.lastClock
}

// VirtualFor returns the virtual nanoseconds during which the host's local
// clock advances by d (at least 1 for d > 0): use it to schedule the node's
// ticks so that a fast clock also ticks fast.
func (h *Host) VirtualFor(d time.Duration) int64 {
	v := int64(d)/h.ratePPM*ratePPMOne + int64(d)%h.ratePPM*ratePPMOne/h.ratePPM
	if v < 1 && d > 0 {
		v = 1
	}
	return v
}

func (h *Host) String() string {
	return fmt.Sprintf("host %d (inc %d, alive %v, rate %.3f)", h.ID, h.Incarnation, h.Alive, h.Rate())
}
