// Package bench is `metastore bench`: a bounded load generator for any
// etcd v3 server (MetaStore or etcd itself) that reports throughput and
// latency percentiles as a table or as JSON.
//
// It is built on go.etcd.io/etcd/client/v3 for connections, endpoint
// balancing and retries, and calls the raw gRPC stubs on those connections
// in the hot loop, with one request message per client reused for every
// operation, keys written in place into a per-client buffer and a single
// shared value: the client's own CPU per operation, which it reports,
// stays small next to the server's on a shared machine.
package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Workloads, in the order --help lists them.
var workloads = []struct{ name, what string }{
	{"put", "Put of a --val-size value to a key from the key space"},
	{"range", "Range of one key from the key space (--consistency l or s)"},
	{"txn-put", "Txn with no compare and one Put in its success branch"},
	{"rmw", "read-modify-write: Range a key, then Txn comparing its mod_revision and putting it (a failed compare counts as a conflict)"},
	{"watch-latency", "Put a key the client watches, timed until its watcher sees the event"},
	{"lease-keepalive", "one LeaseKeepAlive round trip on the client's own lease and stream"},
}

// Options is one run's configuration, parsed from the command line.
type Options struct {
	Workload       string
	Endpoints      []string
	Conns          int
	Clients        int
	Total          int64         // operations to issue; 0 with Duration: until Duration
	Duration       time.Duration // stop after this long even if Total is not reached; 0: no limit
	KeySize        int
	ValSize        int
	KeySpaceSize   int
	SequentialKeys bool
	Rate           float64 // operations per second over all clients; 0: as fast as possible
	Consistency    string  // range: "l" (linearizable) or "s" (serializable)
	JSON           bool
	DialTimeout    time.Duration
	StallTimeout   time.Duration // give up when no operation completes for this long
	Progress       string        // "auto", "on" or "off"
}

const usageHeader = `metastore bench — load an etcd v3 server (MetaStore or etcd) and report its speed.

Usage:
  metastore bench WORKLOAD [flags]

Workloads:
%s
It issues --total operations (or runs for --duration, whichever ends first) from
--clients goroutines sharing --conns gRPC connections, then prints throughput,
average and p50/p90/p99/p99.9 latency, errors, and its own CPU per operation
(user+system time of this process, which competes with the server on a shared
host). A progress bar is drawn while stdout is a terminal. It always stops by
itself: when the work is done, at --duration, or when nothing completes for
--stall-timeout (then it reports what it has and exits 1).

Examples:
  metastore bench put --clients=50 --conns=10 --total=100000 --val-size=256 --key-space-size=100000
  metastore bench range --consistency=s --clients=50 --total=100000
  metastore bench rmw --clients=10 --key-space-size=100 --duration=30s --json

Flags:
`

// newFlagSet binds every flag to o, whose current values are the defaults.
func newFlagSet(o *Options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("metastore bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		var w strings.Builder
		for _, wl := range workloads {
			fmt.Fprintf(&w, "  %-16s %s\n", wl.name, wl.what)
		}
		fmt.Fprintf(fs.Output(), usageHeader, w.String())
		fs.PrintDefaults()
	}
	fs.Func("endpoints", "comma-separated gRPC `endpoints` (host:port) (default 127.0.0.1:2379)", func(s string) error {
		o.Endpoints = nil
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				o.Endpoints = append(o.Endpoints, e)
			}
		}
		return nil
	})
	fs.IntVar(&o.Conns, "conns", o.Conns, "gRPC connections shared by the clients")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent clients, each with one request in flight")
	fs.Int64Var(&o.Total, "total", o.Total, "operations to issue (0: until --duration)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "stop after this long even if --total is not reached (0: no limit)")
	fs.IntVar(&o.KeySize, "key-size", o.KeySize, "key size in `bytes`")
	fs.IntVar(&o.ValSize, "val-size", o.ValSize, "value size in `bytes`")
	fs.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "number of distinct keys used")
	fs.BoolVar(&o.SequentialKeys, "sequential-keys", o.SequentialKeys, "walk the key space in order (else pick keys at random)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "at most this many operations per second over all clients (0: no limit)")
	fs.StringVar(&o.Consistency, "consistency", o.Consistency, "range reads: l (linearizable) or s (serializable)")
	fs.BoolVar(&o.JSON, "json", o.JSON, "print the result as one JSON object instead of a table")
	fs.DurationVar(&o.DialTimeout, "dial-timeout", o.DialTimeout, "how long to wait for each connection's first answer")
	fs.DurationVar(&o.StallTimeout, "stall-timeout", o.StallTimeout, "give up when no operation completes for this long")
	fs.StringVar(&o.Progress, "progress", o.Progress, "progress bar: auto (when stdout is a terminal), on or off")
	return fs
}

// Defaults are etcd's benchmark tool's where it has the same flag.
func defaults() Options {
	return Options{
		Endpoints:    []string{"127.0.0.1:2379"},
		Conns:        1,
		Clients:      1,
		Total:        10000,
		KeySize:      8,
		ValSize:      8,
		KeySpaceSize: 1,
		Consistency:  "l",
		DialTimeout:  5 * time.Second,
		StallTimeout: 30 * time.Second,
		Progress:     "auto",
	}
}

// Parse reads `WORKLOAD [flags]` (the workload may also follow the flags).
// It returns flag.ErrHelp after printing the usage for -h/--help.
func Parse(args []string, out io.Writer) (*Options, error) {
	o := defaults()
	fs := newFlagSet(&o, out)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.Workload, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.Workload == "" && fs.NArg() > 0 {
		o.Workload = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (flags go before or after the one workload)", fs.Args())
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

func (o *Options) validate() error {
	var errs []error
	known := false
	for _, wl := range workloads {
		known = known || wl.name == o.Workload
	}
	if o.Workload == "" {
		errs = append(errs, errors.New("no workload given (see --help)"))
	} else if !known {
		errs = append(errs, fmt.Errorf("unknown workload %q (see --help)", o.Workload))
	}
	if len(o.Endpoints) == 0 {
		errs = append(errs, errors.New("--endpoints is empty"))
	}
	if o.Conns < 1 || o.Clients < 1 {
		errs = append(errs, errors.New("--conns and --clients must be at least 1"))
	}
	if o.Total < 0 || o.Duration < 0 || (o.Total == 0 && o.Duration == 0) {
		errs = append(errs, errors.New("give a positive --total, a positive --duration, or both: the run must end by itself"))
	}
	if o.KeySpaceSize < 1 {
		errs = append(errs, errors.New("--key-space-size must be at least 1"))
	}
	if digits := len(fmt.Sprint(o.KeySpaceSize - 1)); o.KeySize < digits {
		errs = append(errs, fmt.Errorf("--key-size=%d cannot spell %d distinct keys (needs %d bytes)", o.KeySize, o.KeySpaceSize, digits))
	}
	if o.ValSize < 0 {
		errs = append(errs, errors.New("--val-size must not be negative"))
	}
	if o.Rate < 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate) {
		errs = append(errs, errors.New("--rate must be a finite number of operations per second, 0 for no limit"))
	}
	if o.Consistency != "l" && o.Consistency != "s" {
		errs = append(errs, fmt.Errorf("--consistency=%q: want l (linearizable) or s (serializable)", o.Consistency))
	}
	if o.DialTimeout <= 0 || o.StallTimeout <= 0 {
		errs = append(errs, errors.New("--dial-timeout and --stall-timeout must be positive"))
	}
	if o.Progress != "auto" && o.Progress != "on" && o.Progress != "off" {
		errs = append(errs, fmt.Errorf("--progress=%q: want auto, on or off", o.Progress))
	}
	return errors.Join(errs...)
}
