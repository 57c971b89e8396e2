package server

import (
	"runtime"
	"time"

	"metastore/core"
)

// slowSnapshot is the duration past which a snapshot is logged as a
// warning, as etcd warns about slow applies and fsyncs.
const slowSnapshot = 100 * time.Millisecond

// startSnapshot runs the replica's pending snapshot jobs, if any, each on
// its own goroutine: the file is streamed from a frozen engine view (or,
// on RocksDB, the engine is synced and only the metadata written) while
// the loop goes on serving proposals and reads. The result is stepped back
// into the replica on the loop (SnapshotDone), which then writes the WAL
// marker and compacts the log, or sends the MsgSnaps that waited for a
// file made for sending. Called on the loop goroutine after each round.
func (n *Node) startSnapshot() {
	for job := n.r.SnapshotJob(); job != nil; job = n.r.SnapshotJob() {
		n.runSnapshotJob(job)
	}
}

func (n *Node) runSnapshotJob(job *core.SnapshotJob) {
	what := "snapshot"
	switch {
	case job.ForSending:
		what = "snapshot file for sending"
	case job.EngineHeld:
		what = "engine-synced snapshot"
	}
	// NB: without the yield a snapshot of a 10 MB store held one of two
	// cores for 6-14 ms, and the requests queued behind it were among the
	// slowest 1%.
	job.Pace = runtime.Gosched
	n.snapWG.Add(1)
	go func() {
		defer n.snapWG.Done()
		start := time.Now()
		err := job.Run()
		took := time.Since(start)
		attrs := []any{"index", job.Index, "term", job.Term, "bytes", job.Bytes, "took", took}
		switch {
		case err != nil:
			n.cfg.Logger.Error(what+" failed", append(attrs, "err", err)...)
		case took > slowSnapshot:
			n.cfg.Logger.Warn("slow "+what, append(attrs, "expected-duration", slowSnapshot)...)
		default:
			n.cfg.Logger.Info(what+" written", attrs...)
		}
		done := funcTask(func(r *core.Replica) {
			if derr := r.SnapshotDone(job, err); derr != nil && err == nil {
				n.cfg.Logger.Error("snapshot completion failed", "index", job.Index, "err", derr)
			}
		})
		select {
		case n.reqs <- done:
		case <-n.quit: // the loop is gone; the replica is closing
		}
	}()
}
