package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"metastore/cmd/metastore/bench"
)

// outcome is what one load tool reported about one run, in common units.
type outcome struct {
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	AvgMS     float64 `json:"avg_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"slowest_ms"`
	// ClientCPU is the load tool's own user+system CPU over its whole life.
	ClientCPU time.Duration `json:"-"`
}

// runTool runs a load tool to completion (it bounds itself; ctx only
// interrupts) and returns its stdout and CPU time.
func runTool(ctx context.Context, bin string, args []string) (stdout []byte, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, lastLines(errOut.String(), 10))
	}
	return out.Bytes(), cpu, err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// runMetastoreBench runs `metastore bench WORKLOAD... --json` against eps.
func runMetastoreBench(ctx context.Context, bin string, eps []string, args []string) (outcome, error) {
	full := append([]string{"bench"}, args...)
	full = append(full, "--endpoints="+strings.Join(eps, ","), "--json", "--progress=off")
	out, cpu, err := runTool(ctx, bin, full)
	if err != nil {
		return outcome{}, err
	}
	var r bench.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return outcome{}, fmt.Errorf("metastore bench output: %w\n%s", err, out)
	}
	return outcome{Ops: r.Ops, Errors: r.Errors, OpsPerSec: r.OpsPerSec, AvgMS: r.Latency.Avg,
		P99MS: r.Latency.P99, MaxMS: r.Latency.Max, ClientCPU: cpu}, nil
}

// runEtcdBenchmark runs etcd's benchmark tool (global flags, then the
// sub-command and its flags) against eps, with full-precision output.
func runEtcdBenchmark(ctx context.Context, bin string, eps []string, global, sub []string) (outcome, error) {
	args := append([]string{"--endpoints=" + strings.Join(eps, ","), "--precise"}, global...)
	out, cpu, err := runTool(ctx, bin, append(args, sub...))
	if err != nil {
		return outcome{}, err
	}
	o, err := parseEtcdReport(string(out))
	o.ClientCPU = cpu
	return o, err
}

// parseEtcdReport reads the summary etcd's benchmark prints: Requests/sec,
// Average and Slowest, the "99% in" latency line and the error
// distribution; the successful count is the rate times the total time.
func parseEtcdReport(s string) (outcome, error) {
	var o outcome
	var total float64
	var seen int
	inErrors := false
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		secs := func(prefix string) (float64, bool) {
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				return 0, false
			}
			rest = strings.TrimSuffix(strings.TrimSpace(rest), ".")
			v, err := strconv.ParseFloat(strings.TrimSuffix(rest, " secs"), 64)
			return v, err == nil
		}
		if v, ok := secs("Total:"); ok {
			total, seen = v, seen+1
		} else if v, ok := secs("Average:"); ok {
			o.AvgMS, seen = v*1000, seen+1
		} else if v, ok := secs("Slowest:"); ok {
			o.MaxMS, seen = v*1000, seen+1
		} else if v, ok := secs("Requests/sec:"); ok {
			o.OpsPerSec, seen = v, seen+1
		} else if v, ok := secs("99% in"); ok {
			o.P99MS, seen = v*1000, seen+1
		} else if line == "Error distribution:" {
			inErrors = true
		} else if inErrors && strings.HasPrefix(line, "[") {
			n, _, _ := strings.Cut(line[1:], "]")
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				o.Errors += v
			}
		}
	}
	o.Ops = int64(o.OpsPerSec*total + 0.5)
	if seen < 5 && o.Errors == 0 {
		return o, fmt.Errorf("etcd benchmark output lacks its summary:\n%s", lastLines(s, 20))
	}
	return o, nil
}
