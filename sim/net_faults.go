package sim

import (
	"math/rand/v2"
	"slices"
)

// LinkParams are one directed link's fault parameters, drawn when the link
// is created (Net.AddNode) from the run's Faults.
type LinkParams struct {
	DropProb    float64 // per-message loss
	DupProb     float64 // per-message duplication
	LatencyBase int64   // ns every message takes at least
	LatencyTail int64   // ns, mean of the exponential part
	DelayProb   float64 // probability of an extra delay (reordering)...
	DelayMax    int64   // ...uniform in [0, DelayMax] ns
}

// link is a directed link's parameters and hold state.
type link struct {
	LinkParams
	heldUntil int64     // arrivals before this time are queued
	held      []*flight // queued arrivals, released together
	release   *Timer
}

// drawLink draws a link's parameters. Drop and tail vary per link around
// the run's mean (x0.5..x1.5), so some links are worse than others. It always
// makes the same number of draws.
func (n *Net) drawLink() LinkParams {
	f, r := n.faults, n.topo
	return LinkParams{
		DropProb:    f.NetDropProb * uniformFloat(r, 0.5, 1.5),
		DupProb:     f.NetDupProb,
		LatencyBase: uniformInt64(r, int64(f.NetLatencyMin), int64(f.NetLatencyMax)),
		LatencyTail: int64(float64(f.NetLatencyTail) * uniformFloat(r, 0.5, 1.5)),
		DelayProb:   f.NetDelayProb,
		DelayMax:    int64(f.NetDelayMax),
	}
}

// latency draws one message's latency on l (at least 1 ns, so a reply is
// never delivered at the instant its request left).
func (l *link) latency(r *rand.Rand) int64 {
	d := l.LatencyBase + int64(r.ExpFloat64()*float64(l.LatencyTail))
	if chance(r, l.DelayProb) {
		d += uniformInt64(r, 0, l.DelayMax)
	}
	return max(d, 1)
}

// Link returns the parameters of the directed link from -> to, and false if
// there is no such link.
func (n *Net) Link(from, to uint64) (LinkParams, bool) {
	l := n.links[lk(from, to)]
	if l == nil {
		return LinkParams{}, false
	}
	return l.LinkParams, true
}

// SetLink overrides the parameters of the directed link from -> to (a
// scenario's slow or lossy link). It is a no-op if there is no such link.
func (n *Net) SetLink(from, to uint64, p LinkParams) {
	if l := n.links[lk(from, to)]; l != nil {
		l.LinkParams = p
	}
}

// Hold makes the directed link from -> to queue every message arriving in
// the next d ns, then deliver them all at once, in random order, when the
// hold ends ("hold then burst"). Holding a held link extends the hold.
// Partitions and crashes still apply to the released messages.
func (n *Net) Hold(from, to uint64, d int64) {
	l := n.links[lk(from, to)]
	if l == nil || d <= 0 {
		return
	}
	until := n.world.Now + d
	if until <= l.heldUntil {
		return
	}
	l.heldUntil = until
	if l.release != nil {
		l.release.Cancel()
	}
	l.release = n.world.Schedule(until, func() { n.releaseHold(l) })
}

// HoldNode holds every link into and out of id for d ns.
func (n *Net) HoldNode(id uint64, d int64) {
	for _, other := range n.ids {
		if other != id {
			n.Hold(id, other, d)
			n.Hold(other, id, d)
		}
	}
}

// ReleaseHolds ends every hold now, delivering the queued messages (in link
// order, each link's burst shuffled). Heal does not end holds; this does.
func (n *Net) ReleaseHolds() {
	for _, from := range n.ids {
		for _, to := range n.ids {
			if l := n.links[lk(from, to)]; l != nil && l.heldUntil > n.world.Now {
				l.release.Cancel()
				n.releaseHold(l)
			}
		}
	}
}

// releaseHold ends l's hold and delivers its queue in a shuffled order.
func (n *Net) releaseHold(l *link) {
	l.heldUntil = n.world.Now
	l.release = nil
	burst := slices.Clone(l.held)
	l.held = l.held[:0]
	n.ctl.Shuffle(len(burst), func(i, j int) { burst[i], burst[j] = burst[j], burst[i] })
	for _, f := range burst {
		n.arrive(f)
	}
}

// Holding reports whether the directed link from -> to is on hold now.
func (n *Net) Holding(from, to uint64) bool {
	l := n.links[lk(from, to)]
	return l != nil && l.heldUntil > n.world.Now
}

// Calm stops the network from losing, duplicating or extra-delaying
// messages, on every link now and on links created later; base latency and
// its tail stay. Partitions and holds are separate (Heal, ReleaseHolds).
// The liveness phase calls it so convergence is judged on a quiet network.
func (n *Net) Calm() {
	n.faults.NetDropProb, n.faults.NetDupProb, n.faults.NetDelayProb = 0, 0, 0
	for _, l := range n.links {
		l.DropProb, l.DupProb, l.DelayProb = 0, 0, 0
	}
}
