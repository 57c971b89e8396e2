package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

// ErrNodeStopped is returned by Do once the node's loop has ended.
var ErrNodeStopped = errors.New("server: node stopped")

// NodeConfig configures the driving loop.
type NodeConfig struct {
	// TickInterval is the wall time of one raft tick; default 100 ms.
	TickInterval time.Duration
	// Incoming yields peer messages (transport.Incoming); nil for a node
	// without peers.
	Incoming <-chan *raftpb.Message
	// QueueRequests is the capacity of the request queue; default 1024.
	QueueRequests int
	// Logger receives loop events; default: discard.
	Logger *slog.Logger
	// ObserveApply, when set, is called on the loop goroutine with the
	// wall time of each apply job (metrics.ApplyObserver).
	ObserveApply func(time.Duration)
}

// slowWork is etcd's threshold for warning about a slow Ready round, fsync
// or apply: past it, an operator should hear about the stall.
const slowWork = 100 * time.Millisecond

// Node drives one replica on one goroutine: it ticks it, steps peer
// messages into it, runs closures submitted with Do, and handles every
// Ready and apply job before waiting again. The replica's append stage
// (WAL write and fsync) runs on a second goroutine, one job at a time:
// while a job syncs, the loop goes on ticking, replicating, applying and
// taking proposals, which all join the next job (group commit).
type Node struct {
	r    *core.Replica
	cfg  NodeConfig
	reqs chan task

	// The append stage: jobs go out on toStage and come back on fromStage
	// (each holds at most the one job out); stageDone closes when the
	// stage goroutine has ended. appending is owned by the loop.
	toStage   chan *core.AppendJob
	fromStage chan *core.AppendJob
	stageDone chan struct{}
	appending bool

	stopc    chan struct{}
	done     chan struct{}
	quit     chan struct{}  // closed when the loop ends, before done
	snapWG   sync.WaitGroup // snapshot goroutines (node_snapshot.go)
	stopOnce sync.Once
	started  atomic.Bool
	err      error // why the loop ended; written before done is closed

	status atomic.Pointer[core.Status] // refreshed after every round

	deadlines *deadlines // calls' timeouts (call.go)
}

// NewNode wraps r. The caller must not use r afterwards except through Do.
// Install the event sink (SetEventSink) before Start.
func NewNode(r *core.Replica, cfg NodeConfig) *Node {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.QueueRequests <= 0 {
		cfg.QueueRequests = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		r:     r,
		cfg:   cfg,
		reqs:  make(chan task, cfg.QueueRequests),
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
		quit:  make(chan struct{}),

		toStage:   make(chan *core.AppendJob, 1),
		fromStage: make(chan *core.AppendJob, 1),
		stageDone: make(chan struct{}),
		deadlines: newDeadlines(cfg.TickInterval),
	}
	st := r.Status()
	n.status.Store(&st)
	return n
}

// Start launches the loop. Call it once.
func (n *Node) Start() {
	if !n.started.CompareAndSwap(false, true) {
		panic("server: Node started twice")
	}
	go n.run()
	go n.deadlines.run(n.done)
}

// Stop ends the loop, waits for it and closes the replica. Closures queued
// but not run are dropped; their waiters see ErrNodeStopped. Stop is
// idempotent and safe from any goroutine except the loop's own.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stopc)
		if n.started.CompareAndSwap(false, true) {
			n.finish(nil) // never started: nothing else will close done
		}
	})
	<-n.done
}

// Done is closed when the loop has ended (Stop, or a fail-stop).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is the fatal error that ended the loop, nil after a clean Stop. Read
// it after Done is closed.
func (n *Node) Err() error {
	<-n.done
	return n.err
}

// Status is the replica's status as of the end of the last loop round.
// Safe from any goroutine.
func (n *Node) Status() core.Status { return *n.status.Load() }

// lastStatus is Status without the copy, for the request path: the loop
// stores a fresh Status each round and never changes a stored one, so the
// caller must only read it.
func (n *Node) lastStatus() *core.Status { return n.status.Load() }

// ID is the replica's member ID.
func (n *Node) ID() uint64 { return n.Status().ID }

// Do queues fn to run on the loop goroutine, where it may call any method
// of the replica; HandleReady runs after it. Do returns once fn is queued
// (not run): ctx's error if ctx ends first, ErrNodeStopped if the loop has
// ended (fn may then never run).
func (n *Node) Do(ctx context.Context, fn func(r *core.Replica)) error {
	return n.queue(ctx, funcTask(fn))
}

// task is work for the loop goroutine: a closure (funcTask) or a call's
// waiter, which carries its own and so costs no closure per request.
type task interface{ run(r *core.Replica) }

type funcTask func(r *core.Replica)

func (f funcTask) run(r *core.Replica) { f(r) }

// queue is Do for any task.
func (n *Node) queue(ctx context.Context, t task) error {
	select {
	case <-n.done:
		return ErrNodeStopped
	default:
	}
	// With room in the queue (nearly always), a send that locks the queue
	// alone: the select below locks all three channels, n.done being
	// shared by every request.
	select {
	case n.reqs <- t:
		return nil
	default:
	}
	select {
	case n.reqs <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrNodeStopped
	}
}

// ReportUnreachable forwards the transport's report without blocking: the
// news is advisory and a later failure reports again.
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.reqs <- funcTask(func(r *core.Replica) { r.ReportUnreachable(id) }):
	default:
	}
}

// ReportSnapshot forwards a snapshot delivery result; it waits for room in
// the queue, since raft does not retry a snapshot whose result it never got.
func (n *Node) ReportSnapshot(id uint64, ok bool) {
	_ = n.Do(context.Background(), func(r *core.Replica) { r.ReportSnapshot(id, ok) })
}

func (n *Node) run() {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	go n.appendStage()
	var err error
	for err == nil {
		select {
		case <-n.stopc:
			n.stopStage()
			n.finish(nil)
			return
		case <-ticker.C:
			n.r.Tick()
		case m := <-n.cfg.Incoming:
			n.step(m)
		case t := <-n.reqs:
			t.run(n.r)
			// Let the request goroutines that are runnable now queue
			// theirs, so that drain takes them into this round: under
			// load a round per request (a Ready, a HardState, a status
			// copy and a wakeup each) cost more than the yield, and
			// rounds fell from 1.2 to 5.7 requests each at 50 clients.
			runtime.Gosched()
		case job := <-n.fromStage:
			n.appending = false
			err = n.r.AppendDone(job)
		}
		if err != nil {
			break
		}
		n.drain()
		if err = n.handleReady(); err == nil {
			n.startSnapshot() // off the loop too (node_snapshot.go)
		}
		st := n.r.Status()
		n.status.Store(&st)
	}
	n.cfg.Logger.Error("replica failed; stopping", "err", err)
	n.stopStage()
	n.finish(err)
}

// startAppend hands the replica's next append job to the stage when the
// stage is free; the job groups every Ready handled since the last one.
func (n *Node) startAppend() {
	if n.appending {
		return
	}
	if job := n.r.NextAppend(); job != nil {
		n.appending = true
		n.toStage <- job // never blocks: the stage holds no other job
	}
}

// appendStage writes and syncs append jobs, one at a time, touching only
// what the job holds (the WAL); the loop takes each back with AppendDone.
// A failed job comes back too: AppendDone turns its error into the
// replica's fail-stop, and nothing that waited for it is answered.
func (n *Node) appendStage() {
	defer close(n.stageDone)
	for job := range n.toStage {
		start := time.Now()
		err := job.Run()
		if took := time.Since(start); took > slowWork {
			n.cfg.Logger.Warn("slow fdatasync", "took", took, "expected-duration", slowWork,
				"entries", job.Entries, "bytes", job.Bytes, "synced", job.Syncs(), "err", err)
		}
		n.fromStage <- job // never blocks: one job out at a time
	}
}

// stopStage ends the stage goroutine once its job, if any, is done: the
// replica must not be closed under a running job. The job's outcome is
// dropped: whatever it wrote, nobody was told.
func (n *Node) stopStage() {
	close(n.toStage)
	<-n.stageDone
}

// drain runs what else is queued, so that it joins the same Ready (group
// commit), bounded so ticks are not starved.
func (n *Node) drain() {
	for range 256 {
		select {
		case t := <-n.reqs:
			t.run(n.r)
		case m := <-n.cfg.Incoming:
			n.step(m)
		default:
			return
		}
	}
}

func (n *Node) step(m *raftpb.Message) {
	if err := n.r.Step(m); err != nil && !errors.Is(err, core.ErrStopped) {
		n.cfg.Logger.Debug("step", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

// handleReady handles every Ready and runs the apply jobs they hand out,
// until the replica is quiet, handing the append stage its next job before
// each apply. A returned error is a fail-stop: the replica
// may have lost writes it acknowledged to raft and must not go on.
func (n *Node) handleReady() error {
	start := time.Now()
	rounds, applied := 0, 0
	for {
		for n.r.HasReady() {
			rounds++
			if err := n.r.HandleReady(); err != nil {
				return err
			}
		}
		// NB: the entries just handed out go to the append stage before
		// the apply: their fsync then overlaps it, where the stage used to
		// wait for the apply and the rest of the round.
		n.startAppend()
		job := n.r.NextApply()
		if job == nil {
			break
		}
		applyStart := time.Now()
		err := n.r.Apply(job)
		took := time.Since(applyStart)
		applied += job.Entries
		if n.cfg.ObserveApply != nil {
			n.cfg.ObserveApply(took)
		}
		if took > slowWork {
			n.cfg.Logger.Warn("apply request took too long", "took", took, "expected-duration", slowWork,
				"entries", job.Entries, "first-index", job.First, "last-index", job.Last)
		}
		if err != nil {
			return err
		}
	}
	if took := time.Since(start); took > slowWork {
		n.cfg.Logger.Warn("slow ready round", "took", took, "expected-duration", slowWork,
			"rounds", rounds, "applied-entries", applied)
	}
	return n.r.Failed()
}

// finish records why the loop ended, closes the replica and wakes waiters.
func (n *Node) finish(err error) {
	n.err = err
	close(n.quit)
	n.snapWG.Wait() // no snapshot file is written after the replica closes
	if cerr := n.r.Close(); cerr != nil && err == nil {
		n.cfg.Logger.Warn("closing replica", "err", cerr)
	}
	close(n.done)
}
