package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"metastore/checker"
)

// recorder is a checker.History shared by the load's goroutines. Times
// are nanoseconds of the monotonic clock since start.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	h     checker.History
}

func (r *recorder) now() int64 { return time.Since(r.start).Nanoseconds() }

// invoke records the call; its time is taken before the request is sent.
func (r *recorder) invoke(client int, in checker.Input) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h.Invoke(client, in, r.now())
}

// ret records an answer; its time is taken after the response arrived.
func (r *recorder) ret(id int, out checker.Output) {
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Return(id, out, t)
}

func (r *recorder) fail(id int) {
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Fail(id, t)
}

func (r *recorder) timeout(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Timeout(id)
}

func (r *recorder) ops() []checker.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h.Ops()
}

// loadStats counts what the load saw.
type loadStats struct {
	ops, ok, failed, unknown, ackedPuts atomic.Int64
	lastAck                             atomic.Int64 // recorder time of the latest acknowledged put
}

func (s *loadStats) String() string {
	return fmt.Sprintf("%d ops: %d ok (%d acked puts), %d failed, %d unknown",
		s.ops.Load(), s.ok.Load(), s.ackedPuts.Load(), s.failed.Load(), s.unknown.Load())
}

// load runs workers that put unique values to and get a few keys, each on
// its own client of every endpoint, recording everything in rec, until
// stop is called.
type load struct {
	rec   *recorder
	stats loadStats
	stopc chan struct{}
	wg    sync.WaitGroup
}

// opTimeout bounds one request: past it the outcome is unknown.
const opTimeout = 3 * time.Second

func startLoad(rec *recorder, clients []*clientv3.Client, keys []string) *load {
	l := &load{rec: rec, stopc: make(chan struct{})}
	for w, cli := range clients {
		l.wg.Go(func() { l.worker(w, cli, keys) })
	}
	return l
}

// stop ends the load and waits for every in-flight request.
func (l *load) stop() {
	close(l.stopc)
	l.wg.Wait()
}

func (l *load) worker(w int, cli *clientv3.Client, keys []string) {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	// A client whose request may still take effect gets a new identity, so
	// each identity's operations stay sequential in the history.
	client := w * 1000
	for seq := 0; ; seq++ {
		select {
		case <-l.stopc:
			return
		default:
		}
		key := keys[rng.IntN(len(keys))]
		in := checker.Input{Kind: checker.Get, Key: key}
		if rng.IntN(2) == 0 {
			in = checker.Input{Kind: checker.Put, Key: key, Value: fmt.Sprintf("w%d-%d", w, seq)}
		}
		if !l.do(cli, client, in) {
			client++
		}
	}
}

// do runs one operation and records it; false when its outcome is unknown.
func (l *load) do(cli *clientv3.Client, client int, in checker.Input) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	l.stats.ops.Add(1)
	id := l.rec.invoke(client, in)
	var out checker.Output
	var err error
	if in.Kind == checker.Put {
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(ctx, in.Key, in.Value); err == nil {
			out.Revision = resp.Header.Revision
		}
	} else {
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(ctx, in.Key); err == nil {
			out.Revision = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				kv := resp.Kvs[0]
				out.Found = true
				out.KV = checker.KV{Value: string(kv.Value), ModRev: kv.ModRevision, CreateRev: kv.CreateRevision, Version: kv.Version}
			}
		}
	}
	switch {
	case err == nil:
		l.rec.ret(id, out)
		l.stats.ok.Add(1)
		if in.Kind == checker.Put {
			l.stats.ackedPuts.Add(1)
			l.stats.lastAck.Store(l.rec.now())
		}
		return true
	case in.Kind == checker.Get || notApplied(err):
		// A read changes nothing, and a rejected write never reached raft.
		l.rec.fail(id)
		l.stats.failed.Add(1)
		return true
	default:
		l.rec.timeout(id)
		l.stats.unknown.Add(1)
		return false
	}
}

// notApplied reports errors after which a write certainly did not take
// effect: etcd's "no leader" is answered before proposing, and the other
// codes reject the request itself. Everything else (deadline, connection
// lost, "leader changed", timeouts) leaves the outcome unknown.
func notApplied(err error) bool {
	if errors.Is(err, rpctypes.ErrNoLeader) {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted, codes.PermissionDenied:
		return true
	}
	return false
}
