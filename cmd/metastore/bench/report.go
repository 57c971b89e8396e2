package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is a finished run, as printed by --json. Latencies are in
// milliseconds; they cover the successful operations only.
type Result struct {
	Workload       string   `json:"workload"`
	Consistency    string   `json:"consistency,omitempty"`
	Endpoints      []string `json:"endpoints"`
	Conns          int      `json:"conns"`
	Clients        int      `json:"clients"`
	KeySize        int      `json:"key_size"`
	ValSize        int      `json:"val_size"`
	KeySpaceSize   int      `json:"key_space_size"`
	SequentialKeys bool     `json:"sequential_keys"`
	Rate           float64  `json:"rate,omitempty"`

	Ops       int64            `json:"ops"`    // successful operations
	Errors    int64            `json:"errors"` // failed operations
	ErrorKind map[string]int64 `json:"error_kinds,omitempty"`
	Conflicts int64            `json:"conflicts,omitempty"` // rmw: failed compares (also in Ops)
	Seconds   float64          `json:"seconds"`
	OpsPerSec float64          `json:"ops_per_sec"`
	Latency   Latency          `json:"latency_ms"`

	// ClientCPUPerOpUS is this process's user+system CPU over the run
	// divided by the operations (successful or not), in microseconds.
	ClientCPUPerOpUS float64 `json:"client_cpu_us_per_op"`
	Stalled          bool    `json:"stalled,omitempty"`
}

// Latency holds the summary of a histogram, in milliseconds.
type Latency struct {
	Avg  float64 `json:"avg"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newResult(o *Options, clients []*client, elapsed, cpu time.Duration) *Result {
	r := &Result{
		Workload: o.Workload, Endpoints: o.Endpoints, Conns: o.Conns, Clients: o.Clients,
		KeySize: o.KeySize, ValSize: o.ValSize, KeySpaceSize: o.KeySpaceSize,
		SequentialKeys: o.SequentialKeys, Rate: o.Rate, Seconds: elapsed.Seconds(),
	}
	if o.Workload == "range" {
		r.Consistency = o.Consistency
	}
	var h Histogram
	for _, c := range clients {
		h.Merge(&c.hist)
		r.Conflicts += c.conflicts
		for msg, n := range c.errs {
			if r.ErrorKind == nil {
				r.ErrorKind = map[string]int64{}
			}
			r.ErrorKind[msg] += n
			r.Errors += n
		}
	}
	r.Ops = int64(h.Count())
	if elapsed > 0 {
		r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
	}
	if n := r.Ops + r.Errors; n > 0 {
		r.ClientCPUPerOpUS = float64(cpu) / float64(time.Microsecond) / float64(n)
	}
	r.Latency = Latency{
		Avg: ms(h.Mean()), Min: ms(h.Min()), Max: ms(h.Max()),
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)),
	}
	return r
}

// WriteJSON prints r as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints r for a person: what ran, one row of figures, and the
// errors by kind, most frequent first.
func (r *Result) WriteTable(w io.Writer) error {
	name := r.Workload
	if r.Consistency != "" {
		name += map[string]string{"l": " (linearizable)", "s": " (serializable)"}[r.Consistency]
	}
	keys := "random"
	if r.SequentialKeys {
		keys = "sequential"
	}
	fmt.Fprintf(w, "%s: %d clients on %d connection(s) to %s; key %d B, value %d B, %d keys (%s)",
		name, r.Clients, r.Conns, strings.Join(r.Endpoints, ","), r.KeySize, r.ValSize, r.KeySpaceSize, keys)
	if r.Rate > 0 {
		fmt.Fprintf(w, ", at most %g ops/s", r.Rate)
	}
	fmt.Fprintln(w)
	if r.Stalled {
		fmt.Fprintln(w, "STALLED: nothing completed within --stall-timeout; the figures cover what finished before.")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ops\terrors\tseconds\tops/s\tavg ms\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tslowest ms\tbench CPU µs/op\t")
	l := r.Latency
	fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t\n",
		r.Ops, r.Errors, r.Seconds, r.OpsPerSec, l.Avg, l.P50, l.P90, l.P99, l.P999, l.Max, r.ClientCPUPerOpUS)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Conflicts > 0 {
		fmt.Fprintf(w, "conflicts: %d read-modify-writes found the key changed (counted in ops)\n", r.Conflicts)
	}
	kinds := slices.SortedFunc(maps.Keys(r.ErrorKind), func(a, b string) int {
		return cmp.Or(cmp.Compare(r.ErrorKind[b], r.ErrorKind[a]), strings.Compare(a, b))
	})
	for _, k := range kinds {
		fmt.Fprintf(w, "error x%d: %s\n", r.ErrorKind[k], k)
	}
	return nil
}
