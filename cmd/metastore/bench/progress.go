package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress watches a run: it draws the bar (when enabled) and detects a
// stall, ten times a second.
type progress struct {
	o       *Options
	out     io.Writer
	draw    bool
	clients []*client
	start   time.Time
}

func newProgress(o *Options, out io.Writer, clients []*client, start time.Time) *progress {
	draw := o.Progress == "on" || (o.Progress == "auto" && isTerminal(out))
	return &progress{o: o, out: out, draw: draw, clients: clients, start: start}
}

func (p *progress) completed() int64 {
	var n int64
	for _, c := range p.clients {
		n += c.completed.Load()
	}
	return n
}

// watch returns once every client has stopped (wg), cancelling the run
// first if nothing completed for --stall-timeout; it reports that stall.
func (p *progress) watch(ctx context.Context, cancel context.CancelFunc, wg *sync.WaitGroup) (stalled bool) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		select {
		case <-done:
			if p.draw {
				fmt.Fprint(p.out, "\r\033[K") // clear the bar before the result
			}
			return stalled
		case now := <-tick.C:
			n := p.completed()
			if n != last {
				last, lastChange = n, now
			} else if !stalled && ctx.Err() == nil && now.Sub(lastChange) > p.o.StallTimeout {
				stalled = true
				cancel()
			}
			if p.draw {
				fmt.Fprint(p.out, "\r"+p.bar(n, now.Sub(p.start)))
			}
		}
	}
}

// bar is one line: how far the run is (by operations, or by time when
// only --duration bounds it), the count and the rate so far.
func (p *progress) bar(n int64, elapsed time.Duration) string {
	const width = 30
	var frac float64
	if p.o.Total > 0 {
		frac = float64(n) / float64(p.o.Total)
	}
	if p.o.Duration > 0 {
		frac = max(frac, elapsed.Seconds()/p.o.Duration.Seconds())
	}
	frac = min(frac, 1)
	full := int(frac * width)
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("[%s%s] %3.0f%%  %d ops  %.0f ops/s  %s",
		strings.Repeat("=", full), strings.Repeat(" ", width-full), frac*100, n, rate, elapsed.Round(100*time.Millisecond))
}
