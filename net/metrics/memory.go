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

// EngineMemory names the gauge of a storage engine's memory outside the Go
// heap (RocksDB's block cache, memtables, table readers), by kind.
const EngineMemory = "metastore_engine_memory_bytes"

// RegisterEngineMemory adds one EngineMemory gauge per kind, each read by
// its function at every scrape: the part of the resident set the Go
// runtime's figures do not show.
func (m *Metrics) RegisterEngineMemory(kinds map[string]func() uint64) {
	for kind, read := range kinds {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: EngineMemory, Help: "Bytes of memory the storage engine holds outside the Go heap, by kind.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(read()) }))
	}
}

// EngineProperty names the gauges of a storage engine's own counters by
// name (RocksDB's L0 files, pending compaction bytes, write stall state),
// to tell a write stall or a compaction backlog from a slow request path.
const EngineProperty = "metastore_engine_property"

// RegisterEngineProperties adds one EngineProperty gauge per name, each
// read by read(name) at every scrape.
func (m *Metrics) RegisterEngineProperties(names []string, read func(name string) uint64) {
	for _, name := range names {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: EngineProperty, Help: "A storage engine property (RocksDB's, by its name).",
			ConstLabels: prometheus.Labels{"name": name},
		}, func() float64 { return float64(read(name)) }))
	}
}
