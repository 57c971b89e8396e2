package sim

import (
	"fmt"
	"time"
)

// scheduleFaults arms one recurring timer per fault kind that this seed's
// mix has switched on. Faults fire only during the safety phase.
func (s *Sim) scheduleFaults() {
	f := s.faults
	s.every(f.PartitionEvery, s.partition)
	s.every(f.HoldEvery, s.hold)
	s.every(f.CrashEvery, s.crashOne)
	s.every(f.PauseEvery, s.pauseOne)
	s.every(f.DiskFullEvery, s.fillDisk)
}

// every runs fire at exponentially distributed gaps of the given mean.
func (s *Sim) every(mean time.Duration, fire func()) {
	if mean <= 0 {
		return
	}
	var arm func()
	arm = func() {
		s.world.After(ExpInterval(s.faultRng, mean), func() {
			if s.world.Now >= s.safetyEnd {
				return
			}
			fire()
			arm()
		})
	}
	arm()
}

func (s *Sim) randomNode() *node {
	return s.drv.nodes[s.drv.ids[s.faultRng.IntN(len(s.drv.ids))]]
}

// partition cuts the network in one of the named shapes, healing it later.
func (s *Sim) partition() {
	var desc string
	k := s.faultRng.IntN(6)
	heal := ExpInterval(s.faultRng, s.faults.PartitionFor)
	switch s.opts.PartitionShape {
	case "isolate-leader":
		k = 1
	case "isolate-pause-leader":
		// A stop-the-world pause of a cut-off leader: when it resumes, it
		// still believes it leads until its next ticks run, which is where
		// a read served on a leader lease goes stale.
		k = 1
		if lead := s.leader(); lead != 0 {
			n := s.drv.nodes[lead]
			n.pausedTil = max(n.pausedTil, s.world.Now+heal)
			s.count("pause")
		}
	}
	switch k {
	case 0:
		desc = s.net.IsolateNode(s.randomNode().id)
	case 1:
		lead := s.leader()
		if lead == 0 {
			lead = s.randomNode().id
		}
		desc = s.net.IsolateLeader(lead)
	case 2:
		desc = s.net.SplitMajorityMinority(s.faultRng)
	case 3:
		desc = s.net.Bridge(s.faultRng)
	default:
		a, b := s.randomNode().id, s.randomNode().id
		if a == b {
			desc = s.net.IsolateNode(a)
		} else {
			desc = s.net.OneWay(a, b)
		}
	}
	s.count("partition")
	s.trace("partition", 0)
	s.logf("%s partition: %s", vt(s.world.Now), desc)
	s.world.After(heal, func() {
		s.net.Heal()
		s.count("partition_heal")
		s.trace("heal", 0)
	})
}

func (s *Sim) hold() {
	n := s.randomNode()
	d := ExpInterval(s.faultRng, s.faults.HoldFor)
	s.net.HoldNode(n.id, d)
	s.count("hold")
}

// crashOne kills a random live member and restarts it after a delay.
func (s *Sim) crashOne() {
	n := s.randomNode()
	if !n.alive() {
		return
	}
	s.logf("%s crash node %d", vt(s.world.Now), n.id)
	s.drv.crash(n)
	delay := int64(10*time.Millisecond) + s.faultRng.Int64N(int64(s.faults.RestartDelayMax)+1)
	s.world.After(delay, func() {
		if !n.alive() {
			s.drv.boot(n)
		}
	})
}

// pauseOne stops a member's process (GC pause, SIGSTOP) for a while.
func (s *Sim) pauseOne() {
	n := s.randomNode()
	if !n.alive() {
		return
	}
	n.pausedTil = max(n.pausedTil, s.world.Now+ExpInterval(s.faultRng, s.faults.PauseFor))
	s.count("pause")
}

// fillDisk makes a member's disk refuse writes for a while.
func (s *Sim) fillDisk() {
	n := s.randomNode()
	n.disk.SetFull(true)
	s.count("disk_full")
	s.world.After(ExpInterval(s.faultRng, s.faults.DiskFullFor), func() { n.disk.SetFull(false) })
}

// healAll ends every fault for the liveness phase: the network heals and
// stops losing messages, disks have room, and every member runs.
func (s *Sim) healAll() {
	s.net.Heal()
	s.net.ReleaseHolds()
	s.net.Calm()
	for _, id := range s.drv.ids {
		n := s.drv.nodes[id]
		n.disk.SetFull(false)
		n.disk.Calm()
		n.pausedTil = 0
		if !n.alive() {
			s.drv.boot(n)
		}
	}
	s.logf("%s all faults healed: %s", vt(s.world.Now), fmt.Sprint(s.drv.ids))
}
