package sim

import (
	"fmt"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
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
	s.every(f.MemberChangeEvery, s.changeMembers)
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
	ms := s.drv.machines()
	return ms[s.faultRng.IntN(len(ms))]
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

// crashOne kills a random live member and restarts it after a delay. Half
// the time it aims at the pipeline instead: the member crashes inside its
// next append job, before or after the job's sync returns (startAppend).
func (s *Sim) crashOne() {
	n := s.randomNode()
	if !n.alive() {
		return
	}
	if s.faultRng.IntN(2) == 0 {
		n.crashInStage = true
		return
	}
	s.crashAndRestart(n)
}

func (s *Sim) crashAndRestart(n *node) {
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
	for _, n := range s.drv.machines() {
		n.disk.SetFull(false)
		n.disk.Calm()
		n.pausedTil = 0
		if !n.alive() {
			s.drv.boot(n)
		}
	}
	s.logf("%s all faults healed: %s", vt(s.world.Now), fmt.Sprint(s.drv.ids))
}

// changeMembers makes one membership change through the leader, one at a
// time: promote a caught-up learner, remove a voter (never below three), or
// add a new machine as a learner. A removed member's process is stopped for
// good; a learner boots empty and catches up from the leader's snapshot.
func (s *Sim) changeMembers() {
	lead := s.leader()
	if s.memberChanging || lead == 0 {
		return
	}
	st := s.drv.nodes[lead].rep.Status()
	switch {
	case len(st.Learners) > 0:
		id := st.Learners[0]
		if n := s.drv.nodes[id]; n.alive() && n.rep.Status().Applied+50 >= st.Applied {
			s.proposeMember(lead, "promote", &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id)})
		}
	case len(st.Voters) > 3 && (len(st.Voters) >= 5 || s.faultRng.IntN(2) == 0):
		id := st.Voters[s.faultRng.IntN(len(st.Voters))]
		s.proposeMember(lead, "remove", &raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)})
	default:
		id := uint64(len(s.drv.nodes) + 1)
		s.drv.addNode(id).joined = true
		s.proposeMember(lead, "add-learner", &raftpb.ConfChange{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(id)})
	}
}

func (s *Sim) proposeMember(lead uint64, what string, cc *raftpb.ConfChange) {
	s.memberChanging = true
	id := cc.GetNodeId()
	done := false
	finish := func() {
		if !done {
			done = true
			s.memberChanging = false
		}
	}
	s.world.After(requestTimeout, finish)
	s.call(s.drv.nodes[lead], func(r *core.Replica, cb core.Callback) { r.ProposeConfChange(cc, cb) },
		func(res core.Result, ok bool) {
			if !ok || res.Err != nil || done {
				finish()
				return
			}
			s.count("member_" + what)
			s.trace("member-"+what, id)
			s.logf("%s member %s %d", vt(s.world.Now), what, id)
			finish()
		})
}
