package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// phaseSample is what a member had spent at one instant, for the
// difference over a phase of the scale benchmark: figures that hold on a
// busy machine where throughput does not.
type phaseSample struct {
	cpu      time.Duration // the process's utime+stime
	rocksCPU time.Duration // of which RocksDB's flush and compaction threads
	written  int64         // bytes written to storage
	gcCycles float64       // completed collections (/metrics)
	logSize  int64         // of the member's log, where gctrace lines go (-scale.gctrace)
	// hist holds the _sum and _count of the member's latency histograms
	// (fsync, apply, propose), by their full metric names.
	hist map[string]float64
}

// phaseHistograms are the member's latency histograms a phase reports.
var phaseHistograms = []string{"storage_fsync_duration_ms", "raft_apply_duration_ms", "raft_propose_duration_ms"}

func samplePhase(b *testing.B, m *member) phaseSample {
	var s phaseSample
	s.cpu, s.written = processUsage(b, m)
	m.mu.Lock()
	pid := m.cmd.Process.Pid
	m.mu.Unlock()
	s.rocksCPU = rocksThreadsCPU(pid)
	if resp, err := http.Get("http://" + m.metrics + "/metrics"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		s.hist = map[string]float64{}
		for sc.Scan() {
			name, v, _ := strings.Cut(sc.Text(), " ")
			if name == "go_gc_duration_seconds_count" {
				s.gcCycles, _ = strconv.ParseFloat(v, 64)
			}
			for _, h := range phaseHistograms {
				if name == h+"_sum" || name == h+"_count" {
					s.hist[name], _ = strconv.ParseFloat(v, 64)
				}
			}
		}
		resp.Body.Close()
	}
	if fi, err := os.Stat(m.logPath); err == nil {
		s.logSize = fi.Size()
	}
	return s
}

// rocksThreadsCPU is the CPU of pid's threads named rocksdb:* (flushes:
// high, compactions: low), as scripts/benchcompare counts them.
func rocksThreadsCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if i < 0 || j < i || !bytes.HasPrefix(stat[i+1:j], []byte("rocksdb:")) {
			continue
		}
		sum += statCPU(stat)
	}
	return sum
}

// gcTraceCPU sums the CPU of the gctrace lines in the member's log between
// two offsets ("... ms clock, A+B/C/D+E ms cpu, ...": all five are
// collector CPU), and counts them.
func gcTraceCPU(path string, from, to int64) (cpu time.Duration, n int) {
	data, err := os.ReadFile(path)
	if err != nil || to > int64(len(data)) || from > to {
		return 0, 0
	}
	for _, l := range strings.Split(string(data[from:to]), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		_, rest, ok := strings.Cut(l, "clock, ")
		if !ok {
			continue
		}
		field, _, ok := strings.Cut(rest, " ms cpu")
		if !ok {
			continue
		}
		n++
		for _, part := range strings.FieldsFunc(field, func(r rune) bool { return r == '+' || r == '/' }) {
			ms, _ := strconv.ParseFloat(part, 64)
			cpu += time.Duration(ms * float64(time.Millisecond))
		}
	}
	return cpu, n
}

// logPhase logs what the member spent between a and z over ops operations
// and returns its CPU per operation and the part of it RocksDB's threads
// took, in µs.
func logPhase(b *testing.B, m *member, what string, ops int, a, z phaseSample) (cpu, rocks float64) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(ops) }
	gcCPU, gcLines := gcTraceCPU(m.logPath, a.logSize, z.logSize)
	b.Logf("%s: member CPU %.1f µs/op (RocksDB threads %.1f, GC %.1f from %d gctrace lines), %.0f collections, %.1f KiB written/op",
		what, per(z.cpu-a.cpu), per(z.rocksCPU-a.rocksCPU), per(gcCPU), gcLines, z.gcCycles-a.gcCycles,
		float64(z.written-a.written)/1024/float64(ops))
	var lat []string
	for _, h := range phaseHistograms {
		n := z.hist[h+"_count"] - a.hist[h+"_count"]
		if n > 0 {
			lat = append(lat, fmt.Sprintf("%s %.0f× avg %.2f ms", h, n, (z.hist[h+"_sum"]-a.hist[h+"_sum"])/n))
		}
	}
	b.Logf("%s: %s", what, strings.Join(lat, ", "))
	return per(z.cpu - a.cpu), per(z.rocksCPU - a.rocksCPU)
}

// fsyncProbe times n appends of 3 KiB, each followed by fdatasync, to a
// new file in dir (the member's file system): the disk's own sync latency,
// to tell a slower member from a slower disk.
func fsyncProbe(b *testing.B, dir string, n int) time.Duration {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		b.Logf("fsync probe: %v", err)
		return 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 3<<10)
	start := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			b.Logf("fsync probe: %v", err)
			return 0
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Logf("fsync probe: %v", err)
			return 0
		}
	}
	return time.Since(start) / time.Duration(n)
}
