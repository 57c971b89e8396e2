package server

import (
	"time"

	"metastore/core"
)

// slowSnapshot is the duration past which a snapshot is logged as a
// warning, as etcd warns about slow applies and fsyncs.
const slowSnapshot = 100 * time.Millisecond

// startSnapshot runs the replica's pending snapshot job, if any, on its own
// goroutine: the file is streamed from a frozen engine view while the loop
// goes on serving proposals and reads. The result is stepped back into the
// replica on the loop (SnapshotDone), which then writes the WAL marker and
// compacts the log. Called on the loop goroutine after each round.
func (n *Node) startSnapshot() {
	job := n.r.SnapshotJob()
	if job == nil {
		return
	}
	n.snapWG.Add(1)
	go func() {
		defer n.snapWG.Done()
		start := time.Now()
		err := job.Run()
		took := time.Since(start)
		attrs := []any{"index", job.Index, "term", job.Term, "bytes", job.Bytes, "took", took}
		switch {
		case err != nil:
			n.cfg.Logger.Error("snapshot failed", append(attrs, "err", err)...)
		case took > slowSnapshot:
			n.cfg.Logger.Warn("slow snapshot", append(attrs, "expected-duration", slowSnapshot)...)
		default:
			n.cfg.Logger.Info("snapshot written", attrs...)
		}
		done := func(r *core.Replica) {
			if derr := r.SnapshotDone(job, err); derr != nil && err == nil {
				n.cfg.Logger.Error("snapshot completion failed", "index", job.Index, "err", derr)
			}
		}
		select {
		case n.reqs <- done:
		case <-n.quit: // the loop is gone; the replica is closing
		}
	}()
}
