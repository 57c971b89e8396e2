package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the bench's garbage-collector target unless GOGC is set:
// its live heap is small (histograms and gRPC buffers) and gRPC allocates
// per call, so with Go's default of 100 the collector took about 15% of
// the bench's CPU in a profile of a 50-client put; a larger target trades
// a few megabytes for that CPU, which the server on the same host can use.
const gcPercent = 400

// Main is `metastore bench`: args follow the word bench. It returns the
// exit code: 0 when the run ended normally, 1 on a setup failure or a
// stall (the partial result is still printed), 2 on bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	o, err := Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "metastore bench: %v\n", err)
		return 2
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// Ctrl-C ends the run early; what completed is still reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, o, stdout)
	if res != nil {
		var werr error
		if o.JSON {
			werr = res.WriteJSON(stdout)
		} else {
			werr = res.WriteTable(stdout)
		}
		if werr != nil {
			fmt.Fprintln(stderr, "metastore bench:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "metastore bench:", err)
		return 1
	}
	return 0
}
