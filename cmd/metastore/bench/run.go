package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// counter is an atomic count padded to its own cache line, so that clients
// bumping theirs do not slow each other down.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// ErrStalled is returned (with the partial result) when no operation
// completed for --stall-timeout.
var ErrStalled = errors.New("no operation completed within --stall-timeout")

// Run connects, prepares every client, then issues the workload until
// --total operations were issued, --duration passed, ctx ends or nothing
// completes for --stall-timeout. It draws a progress bar on stdout when
// that is a terminal. The Result covers the operations that completed;
// the error is ErrStalled, or a setup failure (then the Result is nil).
func Run(ctx context.Context, o *Options, stdout io.Writer) (*Result, error) {
	conns, err := dial(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, cli := range conns {
			cli.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	value := make([]byte, o.ValSize)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for i := range value {
		value[i] = 'a' + byte(rng.IntN(26))
	}
	clients := make([]*client, o.Clients)
	for i := range clients {
		cli := conns[i%len(conns)]
		clients[i] = &client{
			id: i, o: o, cli: cli, kv: pb.NewKVClient(cli.ActiveConnection()),
			rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))),
			key: make([]byte, o.KeySize), errs: map[string]int64{},
		}
	}
	if err := prepareAll(runCtx, clients, value, o.DialTimeout+10*time.Second); err != nil {
		return nil, err
	}

	var (
		next  atomic.Int64 // the index of the next operation to issue
		wg    sync.WaitGroup
		start = time.Now()
		cpu0  = processCPU()
	)
	if o.Duration > 0 {
		t := time.AfterFunc(o.Duration, cancel)
		defer t.Stop()
	}
	for _, c := range clients {
		wg.Go(func() { c.loop(runCtx, &next, start) })
	}
	prog := newProgress(o, stdout, clients, start)
	stalled := prog.watch(runCtx, cancel, &wg)
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0

	res := newResult(o, clients, elapsed, cpu)
	res.Stalled = stalled
	if stalled {
		return res, ErrStalled
	}
	return res, nil
}

// dial opens --conns clients and checks that each gets an answer.
func dial(ctx context.Context, o *Options) ([]*clientv3.Client, error) {
	var conns []*clientv3.Client
	for range o.Conns {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   o.Endpoints,
			DialTimeout: o.DialTimeout,
			Logger:      zap.NewNop(),
		})
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
			_, err = cli.Get(cctx, "metastore-bench-probe", clientv3.WithSerializable())
			cancel()
			if err != nil {
				cli.Close()
			}
		}
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("connecting to %v: %w", o.Endpoints, err)
		}
		conns = append(conns, cli)
	}
	return conns, nil
}

// prepareAll runs every client's setup concurrently (a lease grant or a
// watch each, for up to --clients of them) and returns the first failure.
func prepareAll(run context.Context, clients []*client, value []byte, limit time.Duration) error {
	setup, cancel := context.WithTimeout(run, limit)
	defer cancel()
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { errs[i] = c.prepare(run, setup, value) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("preparing the clients: %w", err)
	}
	return nil
}

// loop claims operation indexes until the total is reached or ctx ends,
// pacing them to --rate when one is set. Latency runs from the request's
// send to its answer (not from its scheduled time).
func (c *client) loop(ctx context.Context, next *atomic.Int64, start time.Time) {
	var pace *time.Timer
	var interval float64
	if c.o.Rate > 0 {
		interval = float64(time.Second) / c.o.Rate
		pace = time.NewTimer(time.Hour)
		defer pace.Stop()
	}
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if c.o.Total > 0 && i >= c.o.Total {
			return
		}
		if pace != nil {
			if wait := time.Until(start.Add(time.Duration(float64(i) * interval))); wait > 0 {
				pace.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
			}
		}
		t0 := time.Now()
		err := c.op(ctx, i)
		d := time.Since(t0)
		switch {
		case err == nil:
			c.hist.Record(d)
		case ctx.Err() != nil:
			return // cut off by the end of the run: neither a result nor an error
		default:
			c.fail(err)
		}
		c.completed.Add(1)
	}
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
