package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// A partition is a set of blocked directed links (from, to). Net consults it
// when a message is sent and again when it arrives, so a message in flight
// when a partition starts is lost, like packets on a cut cable.
//
// The named shapes (IsolateNode, SplitMajorityMinority, Bridge, OneWay, ...)
// replace the current partition and return a description for the trace,
// also kept in Net.Partition. Block and Cut add to the current partition, to
// compose shapes.

// Blocked reports whether messages from -> to are blocked.
func (n *Net) Blocked(from, to uint64) bool { return n.blocked[lk(from, to)] }

// Block blocks the directed link from -> to.
func (n *Net) Block(from, to uint64) {
	if from != to {
		n.blocked[lk(from, to)] = true
	}
}

// Cut blocks both directions between every node of a and every node of b.
func (n *Net) Cut(a, b []uint64) {
	for _, x := range a {
		for _, y := range b {
			n.Block(x, y)
			n.Block(y, x)
		}
	}
}

// Heal removes every blocked link. It does not end holds (ReleaseHolds).
func (n *Net) Heal() string {
	clear(n.blocked)
	n.Partition = "none"
	return "heal"
}

// IsolateNode cuts id from every other node, both ways.
func (n *Net) IsolateNode(id uint64) string {
	n.Heal()
	n.Cut([]uint64{id}, n.others(id))
	return n.describe(fmt.Sprintf("isolate %d", id))
}

// IsolateLeader is IsolateNode for the node the caller knows leads.
func (n *Net) IsolateLeader(leader uint64) string {
	n.Heal()
	n.Cut([]uint64{leader}, n.others(leader))
	return n.describe(fmt.Sprintf("isolate leader %d", leader))
}

// SplitMajorityMinority splits the nodes at random into a minority of
// 1..(N-1)/2 nodes and the majority, cut from each other both ways. With
// fewer than 2 nodes it only heals.
func (n *Net) SplitMajorityMinority(r *rand.Rand) string {
	n.Heal()
	if len(n.ids) < 2 {
		return n.describe("split: too few nodes")
	}
	ids := n.shuffled(r)
	k := 1 + r.IntN(max((len(ids)-1)/2, 1))
	minority, majority := sorted(ids[:k]), sorted(ids[k:])
	n.Cut(minority, majority)
	return n.describe(fmt.Sprintf("split majority %s | minority %s", set(majority), set(minority)))
}

// Bridge picks a bridge node at random and splits the others into two
// halves that cannot talk to each other; the bridge talks to both. Raft
// must still make progress through it (PreVote and CheckQuorum keep a
// half from disrupting the leader). With fewer than 3 nodes it only heals.
func (n *Net) Bridge(r *rand.Rand) string {
	n.Heal()
	if len(n.ids) < 3 {
		return n.describe("bridge: too few nodes")
	}
	ids := n.shuffled(r)
	bridge, rest := ids[0], ids[1:]
	k := len(rest) / 2
	a, b := sorted(rest[:k]), sorted(rest[k:])
	n.Cut(a, b)
	return n.describe(fmt.Sprintf("bridge %d between %s | %s", bridge, set(a), set(b)))
}

// OneWay blocks only from -> to: to still reaches from (asymmetric).
func (n *Net) OneWay(from, to uint64) string {
	n.Heal()
	n.Block(from, to)
	return n.describe(fmt.Sprintf("one-way %d -/-> %d", from, to))
}

func (n *Net) describe(s string) string {
	n.Partition = s
	return s
}

// others returns every attached node but id, sorted.
func (n *Net) others(id uint64) []uint64 {
	return slices.DeleteFunc(slices.Clone(n.ids), func(x uint64) bool { return x == id })
}

// shuffled returns the attached nodes in an order drawn from r.
func (n *Net) shuffled(r *rand.Rand) []uint64 {
	ids := slices.Clone(n.ids)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func sorted(ids []uint64) []uint64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// set formats ids as {1,2,3}.
func set(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
