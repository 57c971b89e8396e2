// Package sim is the simulated world: a whole MetaStore cluster runs in one
// goroutine on virtual time, with a network and disks that misbehave as the
// seed decides. The same seed gives the same run, byte for byte.
//
// # The world
//
// World is a priority queue of callbacks ordered by (virtual time,
// insertion sequence). Time is an int64 count of nanoseconds that only moves
// when World pops an event; nothing in this package reads the wall clock,
// starts a goroutine or iterates a map into an output.
//
// # Randomness
//
// NewRand turns the run's seed into one PCG stream; Split derives an
// independent child stream from it. Every component (each node's network
// endpoint, each disk, the fault scheduler) owns a child, so an extra draw in
// one component never shifts the draws of another.
//
// # Hosts
//
// A Host is one node's machine: its liveness, incarnation, and the virtual
// time spent inside the node's current step (StepStart, StepCost). A slow
// fsync adds to StepCost; messages sent after it depart at the Host's cursor
// (StepStart+StepCost), so a node busy syncing behaves like a production loop
// blocked in fsync. The WAL's fsyncs happen on the node's append stage
// instead, on a timeline of their own that keeps the node free (the driver's
// startAppend). Host is also the node's core.Clock, skewed per node.
//
// # Network
//
// Net carries raft messages between Endpoints with per-link latency, drop,
// duplication, reordering, holds (queue then burst) and partitions. A
// message sent by an incarnation that crashed before the message departed is
// never delivered.
//
// # Disk
//
// Disk wraps the strict in-memory disk.Mem with fsync latency, deferred
// durability (a Sync only takes effect when the driver completes it, once
// its fsync returned), fsync errors, disk-full errors and
// crash-copies that lose or tear unsynced writes.
//
// # Faults
//
// Faults holds every fault rate of a run; DrawFaults draws a fresh mix per
// seed (swarm testing), switching each fault kind off entirely some of the
// time, and String prints it for the seed banner.
//
// # Scripts
//
// Script is the same cluster without the random fault scheduler, for the
// named scenarios (scenarios/): the caller cuts links, crashes, pauses,
// slows disks and clocks, sends requests and advances virtual time in
// ticks. An observer checks raft's invariants after every member's step
// and at every tick; Finish runs the liveness phase and every checker.
package sim
