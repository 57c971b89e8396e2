package sim

import (
	"strings"
	"testing"
)

// blockedSet returns the blocked directed links.
func blockedSet(n *Net) map[[2]uint64]bool {
	m := map[[2]uint64]bool{}
	for _, a := range n.Nodes() {
		for _, b := range n.Nodes() {
			if n.Blocked(a, b) {
				m[[2]uint64{a, b}] = true
			}
		}
	}
	return m
}

func expect(t *testing.T, n *Net, shape string, want func(a, b uint64) bool) {
	t.Helper()
	for _, a := range n.Nodes() {
		for _, b := range n.Nodes() {
			if got := n.Blocked(a, b); got != (a != b && want(a, b)) {
				t.Errorf("%s: Blocked(%d,%d) = %v", shape, a, b, got)
			}
		}
	}
}

func TestPartitionShapes(t *testing.T) {
	tn := newTestNet(1, NoFaults(), 5)
	n := tn.net

	desc := n.IsolateNode(3)
	expect(t, n, desc, func(a, b uint64) bool { return (a == 3) != (b == 3) })
	desc = n.IsolateLeader(1)
	expect(t, n, desc, func(a, b uint64) bool { return (a == 1) != (b == 1) })
	if !strings.Contains(desc, "leader 1") || n.Partition != desc {
		t.Errorf("description %q, Partition %q", desc, n.Partition)
	}
	desc = n.OneWay(1, 2)
	expect(t, n, desc, func(a, b uint64) bool { return a == 1 && b == 2 })
	n.Heal()
	if len(blockedSet(n)) != 0 || n.Partition != "none" {
		t.Fatalf("heal left %v", blockedSet(n))
	}
}

// groups partitions the nodes by "can reach": in a symmetric split every
// node reaches exactly its own group.
func groupOf(n *Net, x uint64) []uint64 {
	var g []uint64
	for _, y := range n.Nodes() {
		if !n.Blocked(x, y) {
			g = append(g, y)
		}
	}
	return g
}

func TestSplitMajorityMinority(t *testing.T) {
	for seed := range uint64(20) {
		tn := newTestNet(1, NoFaults(), 5)
		n := tn.net
		desc := n.SplitMajorityMinority(NewRand(seed))
		small := 5
		for _, x := range n.Nodes() {
			g := groupOf(n, x)
			small = min(small, len(g))
			for _, y := range n.Nodes() {
				inG := false
				for _, z := range g {
					inG = inG || z == y
				}
				// Symmetric, and blocked exactly across groups.
				if n.Blocked(x, y) != n.Blocked(y, x) || n.Blocked(x, y) == inG {
					t.Fatalf("%s: not a clean split at %d,%d", desc, x, y)
				}
			}
		}
		if small < 1 || small > 2 {
			t.Fatalf("%s: minority size %d, want 1..2", desc, small)
		}
	}
}

func TestBridge(t *testing.T) {
	for seed := range uint64(20) {
		tn := newTestNet(1, NoFaults(), 5)
		n := tn.net
		desc := n.Bridge(NewRand(seed))
		var bridges []uint64
		for _, x := range n.Nodes() {
			if len(groupOf(n, x)) == 5 {
				bridges = append(bridges, x)
			}
		}
		if len(bridges) != 1 {
			t.Fatalf("%s: bridges %v, want exactly one", desc, bridges)
		}
		b := bridges[0]
		// The other four form two groups of two, cut from each other.
		for _, x := range n.Nodes() {
			if x == b {
				continue
			}
			if g := groupOf(n, x); len(g) != 3 {
				t.Fatalf("%s: node %d reaches %v, want its half and the bridge", desc, x, g)
			}
			for _, y := range n.Nodes() {
				if n.Blocked(x, y) != n.Blocked(y, x) {
					t.Fatalf("%s: asymmetric at %d,%d", desc, x, y)
				}
			}
		}
		// Bridge must be able to relay: every node reaches it and back.
		for _, x := range n.Nodes() {
			if n.Blocked(x, b) || n.Blocked(b, x) {
				t.Fatalf("%s: bridge %d cut from %d", desc, b, x)
			}
		}
	}
}
