package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// revisionCheckInterval is how often revision-mode auto-compaction looks at
// the store, as etcd's (5 minutes).
const revisionCheckInterval = 5 * time.Minute

// autoCompaction decides, from periodic samples of the store's revision,
// which revision to compact to: etcd's --auto-compaction-mode semantics.
// It keeps no clock of its own, so it is tested with made-up times.
//
//   - periodic (period > 0): keep about one period of history. Revisions
//     are sampled every tenth of the period (of an hour for periods above
//     one); once a full period has been observed, the store is compacted
//     to the revision sampled a period ago, then again every period (at
//     most every hour) as the window slides.
//   - revision (keep > 0): keep the last keep revisions: every 5 minutes
//     compact to current-keep.
//
// Only the leader compacts, as in etcd; a member that is not leader
// forgets its samples, so a new leader starts a fresh window.
type autoCompaction struct {
	period time.Duration
	keep   int64

	samples   []revSample
	lastRun   time.Time // last compaction (or the window's start)
	compacted int64
}

type revSample struct {
	at  time.Time
	rev int64
}

// interval is how often observe should be called; 0 when disabled.
func (a *autoCompaction) interval() time.Duration {
	switch {
	case a.period > 0:
		return min(a.period, time.Hour) / 10
	case a.keep > 0:
		return revisionCheckInterval
	}
	return 0
}

// observe records the store's revision rev at now and returns the revision
// to compact to, 0 for none.
func (a *autoCompaction) observe(now time.Time, rev int64, leader bool) int64 {
	if !leader {
		a.samples, a.lastRun = nil, time.Time{}
		return 0
	}
	if a.keep > 0 {
		target := rev - a.keep
		if target <= 0 || target <= a.compacted {
			return 0
		}
		return target
	}
	if a.lastRun.IsZero() {
		a.lastRun = now
	}
	a.samples = append(a.samples, revSample{now, rev})
	// The newest sample at least a period old is the compaction point;
	// older ones are no longer needed.
	cut := -1
	for i, s := range a.samples {
		if now.Sub(s.at) >= a.period {
			cut = i
		}
	}
	if cut < 0 {
		return 0
	}
	a.samples = a.samples[cut:]
	wait := a.period // the first time: a whole window
	if a.compacted != 0 {
		wait = min(a.period, time.Hour)
	}
	if now.Sub(a.lastRun) < wait {
		return 0
	}
	target := a.samples[0].rev
	if target <= a.compacted {
		return 0
	}
	return target
}

// done records the outcome of compacting to rev at now.
func (a *autoCompaction) done(now time.Time, rev int64, err error) {
	if err == nil || errors.Is(err, rpctypes.ErrGRPCCompacted) {
		a.compacted = max(a.compacted, rev)
		a.lastRun = now
	}
}

// compactLoop runs auto-compaction until the server closes.
func (s *Server) compactLoop() {
	a := &autoCompaction{period: s.cfg.AutoCompactionPeriod, keep: s.cfg.AutoCompactionRevisions}
	every := a.interval()
	if every == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		st := s.node.Status()
		rev := a.observe(time.Now(), st.Revision, st.Leader != 0 && st.Leader == st.ID)
		if rev == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		_, err := propose[*pb.CompactionResponse](ctx, s, &pb.InternalRaftRequest{
			Compaction: &pb.CompactionRequest{Revision: rev},
		})
		cancel()
		a.done(time.Now(), rev, err)
		if err != nil && !errors.Is(err, rpctypes.ErrGRPCCompacted) {
			s.cfg.Logger.Warn("auto-compaction failed", "revision", rev, "err", err)
		} else {
			s.cfg.Logger.Info("auto-compacted", "revision", rev)
		}
	}
}
