package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on every
// Linux platform Go supports).
const userHZ = 100

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// machineCPU parses the first line of /proc/stat: the CPU time spent busy
// (everything but idle and iowait) and in total, over all CPUs since boot.
func machineCPU(stat string) (busy, total time.Duration, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user and nice.
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	idle := v[3] + v[4]
	var sum uint64
	for _, x := range v {
		sum += x
	}
	return ticks(sum - idle), ticks(sum), nil
}

// processCPU parses /proc/<pid>/stat: utime+stime of the process.
func processCPU(stat string) (time.Duration, error) {
	// The command name (field 2) may hold spaces; it ends at the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/pid/stat: no command name in %.60q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/pid/stat: too few fields")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/pid/stat: utime %q stime %q", f[11], f[12])
	}
	return ticks(u + s), nil
}

// threadName parses the command name (field 2) of /proc/<pid>/task/<tid>/stat.
func threadName(stat string) string {
	i, j := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return ""
	}
	return stat[i+1 : j]
}

// engineThreadPrefix names the threads RocksDB starts for flushes
// (rocksdb:high) and compactions (rocksdb:low).
const engineThreadPrefix = "rocksdb:"

// engineThreadsCPU is the utime+stime of pid's RocksDB background
// threads: the part of the process's CPU that flushes and compactions
// took. RocksDB keeps these threads for the life of the database, so none
// exits between two samples with CPU unaccounted.
func engineThreadsCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		stat := readFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if !strings.HasPrefix(threadName(stat), engineThreadPrefix) {
			continue
		}
		if c, err := processCPU(stat); err == nil {
			sum += c
		}
	}
	return sum
}

// residentBytes parses VmRSS from /proc/<pid>/status.
func residentBytes(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS: %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS line")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// sample is what /proc says at one instant about the machine, the servers
// and this process.
type sample struct {
	at           time.Time
	machineBusy  time.Duration
	machineTotal time.Duration
	servers      time.Duration // utime+stime summed over the server processes
	engine       time.Duration // of which the servers' RocksDB background threads
	self         time.Duration
	loadavg1     float64
}

func takeSample(pids []int) (sample, error) {
	s := sample{at: time.Now()}
	var err error
	if s.machineBusy, s.machineTotal, err = machineCPU(readFile("/proc/stat")); err != nil {
		return s, err
	}
	for _, pid := range pids {
		c, err := processCPU(readFile(fmt.Sprintf("/proc/%d/stat", pid)))
		if err != nil {
			return s, fmt.Errorf("pid %d: %w", pid, err)
		}
		s.servers += c
		s.engine += engineThreadsCPU(pid)
	}
	if s.self, err = processCPU(readFile("/proc/self/stat")); err != nil {
		return s, err
	}
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) > 0 {
		s.loadavg1, _ = strconv.ParseFloat(f[0], 64)
	}
	return s, nil
}

// otherLoad is the share of the machine's CPU capacity (0..1) that neither
// the servers, the bench process (client, its CPU over the run) nor this
// program used between a and b: other work competing with the measurement.
func otherLoad(a, b sample, client time.Duration) float64 {
	capacity := b.machineTotal - a.machineTotal
	if capacity <= 0 {
		return 0
	}
	other := (b.machineBusy - a.machineBusy) - (b.servers - a.servers) - client - (b.self - a.self)
	return max(float64(other), 0) / float64(capacity)
}
