package metrics

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// newMemoryUsage reports the memory the Go runtime holds from the OS. It
// reads runtime/metrics, which unlike runtime.ReadMemStats does not stop
// the world.
func newMemoryUsage() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MemoryUsage, Help: "Bytes of memory mapped by the Go runtime (heap, stacks and runtime metadata).",
	}, func() float64 {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(s[0].Value.Uint64())
	})
}

// newMemorySystemTotal reports the machine's memory (MemTotal of
// /proc/meminfo, read once), so alerts can compare memory_usage_bytes with
// it; 0 where /proc/meminfo is unavailable.
func newMemorySystemTotal() prometheus.Collector {
	total := readMemTotal("/proc/meminfo")
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MemorySystemTotal, Help: "Bytes of memory of the machine (0 when unknown).",
	}, func() float64 { return float64(total) })
}

func readMemTotal(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "MemTotal:       24563012 kB"
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemTotal:" && fields[2] == "kB" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
