package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// report is everything one comparison measured; it is saved as JSON and
// printed as Markdown.
type report struct {
	Started       time.Time    `json:"started"`
	Finished      time.Time    `json:"finished"`
	Command       string       `json:"command"`
	Machine       string       `json:"machine"`
	Revision      string       `json:"revision"`
	Quick         bool         `json:"quick"`
	Rounds        int          `json:"rounds"`
	Servers       []string     `json:"servers"` // the kinds compared, etcd first
	SkewThreshold float64      `json:"skew_threshold"`
	Runs          []runResult  `json:"runs"`
	Loads         []loadResult `json:"loads,omitempty"`
	Summary       []summary    `json:"summary"`
}

// side is one server's medians over the rounds of one workload.
type side struct {
	OpsPerSec        float64 `json:"ops_per_sec"`
	P99MS            float64 `json:"p99_ms"`
	ServerCPUPerOpUS float64 `json:"server_cpu_us_per_op"`
	EngineCPUPerOpUS float64 `json:"engine_threads_cpu_us_per_op"` // of which RocksDB's background threads
	ClientCPUPerOpUS float64 `json:"client_cpu_us_per_op"`
	RSSBytes         int64   `json:"rss_bytes"`
	Errors           int64   `json:"errors"` // summed over the rounds
	Rounds           int     `json:"rounds"` // rounds that produced a figure
	Skewed           int     `json:"skewed"` // of those, rounds marked skewed
}

// summary is one line of a ratio table. A server not run has a side with
// no rounds and a ratio of 0.
type summary struct {
	Nodes        int     `json:"nodes"`
	Workload     string  `json:"workload"`
	Title        string  `json:"title"`
	Tool         string  `json:"tool"`
	Etcd         side    `json:"etcd"`
	MetaStore    side    `json:"metastore"` // the memory engine
	Ratio        float64 `json:"ratio"`     // MetaStore (memory)/etcd throughput
	RocksDB      side    `json:"metastore_rocksdb"`
	RatioRocksDB float64 `json:"ratio_rocksdb"` // MetaStore (RocksDB)/etcd throughput
}

// side returns the figures of kind.
func (s *summary) side(kind string) side {
	switch kind {
	case etcdKind:
		return s.Etcd
	case rocksdbKind:
		return s.RocksDB
	}
	return s.MetaStore
}

// ratio is kind's throughput over etcd's, 0 without figures from both.
func (s *summary) ratio(kind string) float64 {
	if kind == rocksdbKind {
		return s.RatioRocksDB
	}
	return s.Ratio
}

// label is kind's short name in the tables' column heads.
func label(kind string) string {
	switch kind {
	case metastoreKind:
		return "memory"
	case rocksdbKind:
		return "RocksDB"
	}
	return kind
}

// median of xs (the mean of the middle two for an even count); 0 if empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize reduces the runs of each (nodes, workload) to medians per
// server, in the order the runs were made.
func summarize(runs []runResult) []summary {
	type key struct {
		nodes int
		id    string
	}
	var keys []key
	groups := map[key][]runResult{}
	for _, r := range runs {
		k := key{r.Nodes, r.Workload}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []summary
	for _, k := range keys {
		rs := groups[k]
		s := summary{Nodes: k.nodes, Workload: k.id, Title: rs[0].Title, Tool: rs[0].Tool,
			Etcd: reduce(rs, etcdKind), MetaStore: reduce(rs, metastoreKind), RocksDB: reduce(rs, rocksdbKind)}
		if s.Etcd.OpsPerSec > 0 {
			s.Ratio = s.MetaStore.OpsPerSec / s.Etcd.OpsPerSec
			s.RatioRocksDB = s.RocksDB.OpsPerSec / s.Etcd.OpsPerSec
		}
		out = append(out, s)
	}
	return out
}

func reduce(rs []runResult, kind string) side {
	var ops, p99, scpu, ecpu, ccpu, rss []float64
	var sd side
	for _, r := range rs {
		if r.Server != kind || r.Err != "" {
			continue
		}
		ops = append(ops, r.OpsPerSec)
		p99 = append(p99, r.P99MS)
		scpu = append(scpu, r.ServerCPUPerOpUS)
		ecpu = append(ecpu, r.EngineCPUPerOpUS)
		ccpu = append(ccpu, r.ClientCPUPerOpUS)
		rss = append(rss, float64(r.RSSBytes))
		sd.Errors += r.Errors
		sd.Rounds++
		if r.Skewed {
			sd.Skewed++
		}
	}
	sd.OpsPerSec, sd.P99MS = median(ops), median(p99)
	sd.ServerCPUPerOpUS, sd.EngineCPUPerOpUS, sd.ClientCPUPerOpUS = median(scpu), median(ecpu), median(ccpu)
	sd.RSSBytes = int64(median(rss))
	return sd
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// markdown renders the header, one ratio table per cluster size, the
// -load table, and every round with its load and skew mark.
func (rep *report) markdown() string {
	rep.Summary = summarize(rep.Runs)
	var b strings.Builder
	fmt.Fprintf(&b, "# bench-compare, %s\n\n", rep.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- machine: %s\n- metastore revision %s; etcd v3.7.3; etcd's benchmark tool v3.6.8\n", rep.Machine, rep.Revision)
	fmt.Fprintf(&b, "- command: `%s` (%d round(s), median shown; fsync on, loopback, fresh data directories, servers started alternately)\n", rep.Command, rep.Rounds)
	skewed, total := 0, 0
	for _, r := range rep.Runs {
		if r.Err == "" {
			total++
			if r.Skewed {
				skewed++
			}
		}
	}
	for _, l := range rep.Loads {
		if l.Err == "" {
			total++
			if l.Skewed {
				skewed++
			}
		}
	}
	fmt.Fprintf(&b, "- other load: a round is **skewed** when work other than the servers and the load tool used more than %.0f%% of the machine's CPU during it: %d of %d rounds were.",
		rep.SkewThreshold*100, skewed, total)
	if skewed > 0 {
		b.WriteString(" Figures from skewed rounds are not results.")
	}
	b.WriteString("\n")
	b.WriteString("- memory and RocksDB are MetaStore on its two engines; a ratio is that engine's throughput over etcd's; p99, CPU and RSS are medians over the rounds, " +
		"listed in the column heads' order; server CPU/op is utime+stime of all members (/proc/<pid>/stat, RocksDB's own threads included) over the run divided by operations; " +
		"RSS is the largest member's VmRSS at the end; tool CPU/op is the load tool process's whole CPU (its start included) divided by operations\n")
	fmt.Fprintf(&b, "- took %s, builds included\n", rep.Finished.Sub(rep.Started).Round(time.Second))

	nodes := []int{}
	for _, s := range rep.Summary {
		if !slices.Contains(nodes, s.Nodes) {
			nodes = append(nodes, s.Nodes)
		}
	}
	kinds := rep.kinds()
	for _, n := range nodes {
		var ms []string
		for _, k := range kinds[1:] {
			ms = append(ms, label(k))
		}
		fmt.Fprintf(&b, "\n## %d node%s: MetaStore (%s) / etcd\n\n", n, map[bool]string{true: "", false: "s"}[n == 1], strings.Join(ms, ", "))
		b.WriteString(rep.tableHead())
		for _, s := range rep.Summary {
			if s.Nodes == n {
				b.WriteString(rep.tableRow(s))
			}
		}
	}
	if len(rep.Loads) > 0 {
		b.WriteString("\n## Loaded store (1 node): 1,000 clients load 16-byte sequential keys with 256-byte values, then a 50-client put over them\n\n")
		b.WriteString("The same 50-client put runs first on a fresh, empty member of the same server (\"empty\"); \"% of empty\" and \"p99 / empty\" hold the loaded store to it.\n\n")
		b.WriteString("| server | round | keys | put-50 empty ops/s | empty p99 | load ops/s | load time | load p99 | load slowest | load errors | RSS after load | put-50 after ops/s | % of empty | p99 | p99 / empty | slowest | errors | other load | skewed |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, l := range rep.Loads {
			if l.Err != "" {
				fmt.Fprintf(&b, "| %s | %d | %d | failed: %s |\n", l.Server, l.Round, l.Keys, oneLine(l.Err))
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.1f ms | %.0f | %.0f s | %.0f ms | %.0f ms | %d | %s | %.0f | %.0f%% | %.1f ms | %.2f | %.0f ms | %d | %.0f%%, %.0f%%, %.0f%% | %s |\n",
				l.Server, l.Round, l.Keys, l.Empty.OpsPerSec, l.Empty.P99MS, l.Load.OpsPerSec, l.LoadSeconds, l.Load.P99MS, l.Load.MaxMS, l.Load.Errors,
				mb(l.LoadRSSBytes), l.After.OpsPerSec, 100*ratio(l.After.OpsPerSec, l.Empty.OpsPerSec), l.After.P99MS,
				ratio(l.After.P99MS, l.Empty.P99MS), l.After.MaxMS, l.After.Errors,
				l.EmptyOther*100, l.LoadOther*100, l.AfterOther*100, yes(l.Skewed))
		}
		if r := loadRatios(rep.Loads); r != "" {
			b.WriteString("\n" + r + "\n")
		}
	}
	if len(rep.Runs) == 0 {
		return b.String()
	}
	b.WriteString("\n## Rounds\n\n")
	b.WriteString("| nodes | workload | load tool | round | server | ops/s | p99 | slowest | errors | server CPU/op | of which RocksDB threads | tool CPU/op | RSS | other load | loadavg 1m | skewed |\n")
	b.WriteString("|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Runs {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | failed: %s |\n", r.Nodes, r.Title, r.Tool, r.Round, r.Server, oneLine(r.Err))
			continue
		}
		engine := "—"
		if r.Server == rocksdbKind {
			engine = fmt.Sprintf("%.1f µs", r.EngineCPUPerOpUS)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | %.0f | %.1f ms | %.0f ms | %d | %.0f µs | %s | %.0f µs | %s | %.0f%% | %.2f | %s |\n",
			r.Nodes, r.Title, r.Tool, r.Round, r.Server, r.OpsPerSec, r.P99MS, r.MaxMS, r.Errors,
			r.ServerCPUPerOpUS, engine, r.ClientCPUPerOpUS, mb(r.RSSBytes), r.OtherLoad*100, r.LoadAvg1, yes(r.Skewed))
	}
	return b.String()
}

// kinds are the servers the tables show: those the run compared, or, for
// a report without that list, those that have rounds, etcd first.
func (rep *report) kinds() []string {
	if len(rep.Servers) > 0 {
		return rep.Servers
	}
	kinds := []string{etcdKind}
	for _, k := range []string{metastoreKind, rocksdbKind} {
		for _, r := range rep.Runs {
			if r.Server == k {
				kinds = append(kinds, k)
				break
			}
		}
	}
	return kinds
}

// tableHead is a ratio table's head: throughput of each server, the
// ratio of each MetaStore engine to etcd, then one column per figure with
// a value per server (a dot between them, in the head's order).
func (rep *report) tableHead() string {
	kinds := rep.kinds()
	var labels, cols []string
	for _, k := range kinds {
		labels = append(labels, label(k))
		cols = append(cols, "ops/s "+label(k))
	}
	for _, k := range kinds[1:] {
		cols = append(cols, label(k)+"/etcd")
	}
	all := strings.Join(labels, " · ")
	for _, f := range []string{"p99", "server CPU/op", "RSS", "tool CPU/op", "errors"} {
		cols = append(cols, f+" ("+all+")")
	}
	head := "| workload | load tool | " + strings.Join(cols, " | ") + " | skewed rounds |\n|---|---|"
	head += strings.Repeat("---:|", len(cols)+1) + "\n"
	return head
}

// tableRow is s as a line of the table tableHead starts.
func (rep *report) tableRow(s summary) string {
	kinds := rep.kinds()
	cells := []string{s.Title, s.Tool}
	var sides []side
	skewed, rounds := 0, 0
	for _, k := range kinds {
		sd := s.side(k)
		sides = append(sides, sd)
		cells = append(cells, rate(sd))
		skewed += sd.Skewed
		rounds += sd.Rounds
	}
	for _, k := range kinds[1:] {
		cells = append(cells, ratioCell(s.Etcd, s.side(k), s.ratio(k)))
	}
	joined := func(f func(side) string) string {
		var vs []string
		for _, sd := range sides {
			vs = append(vs, f(sd))
		}
		return strings.Join(vs, " · ")
	}
	cells = append(cells,
		joined(func(sd side) string { return msStr(sd.P99MS, sd.Rounds) }),
		joined(func(sd side) string { return usStr(sd.ServerCPUPerOpUS, sd.Rounds) }),
		joined(func(sd side) string { return mbStr(sd.RSSBytes, sd.Rounds) }),
		joined(func(sd side) string { return usStr(sd.ClientCPUPerOpUS, sd.Rounds) }),
		joined(func(sd side) string { return fmt.Sprint(sd.Errors) }),
		fmt.Sprintf("%d/%d", skewed, rounds))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

func rate(s side) string {
	if s.Rounds == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", s.OpsPerSec)
}

// ratioCell shows r, the throughput of m over e's, unless one has no
// figures.
func ratioCell(e, m side, r float64) string {
	if e.Rounds == 0 || m.Rounds == 0 || e.OpsPerSec == 0 {
		return "—"
	}
	return fmt.Sprintf("**%.2f**", r)
}

func msStr(v float64, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", v)
}

func usStr(v float64, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f µs", v)
}

func mbStr(v int64, n int) string {
	if n == 0 {
		return "—"
	}
	return mb(v)
}

func yes(b bool) string {
	if b {
		return "**skewed**"
	}
	return ""
}

// oneLine keeps a table cell on one line and short.
func oneLine(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// loadRatios is one sentence per MetaStore engine of its ratios to etcd
// of the -load medians, or "" without figures from etcd and an engine.
func loadRatios(loads []loadResult) string {
	med := func(kind string, f func(loadResult) float64) float64 {
		var xs []float64
		for _, l := range loads {
			if l.Server == kind && l.Err == "" {
				xs = append(xs, f(l))
			}
		}
		return median(xs)
	}
	var out []string
	for _, kind := range []string{metastoreKind, rocksdbKind} {
		r := func(f func(loadResult) float64) float64 {
			e := med(etcdKind, f)
			if e == 0 {
				return 0
			}
			return med(kind, f) / e
		}
		loadRate := r(func(l loadResult) float64 { return l.Load.OpsPerSec })
		if loadRate == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s/etcd (medians): load rate **%.2f**, resident memory after the load **%.2f**, put-50 rate after the load **%.2f**, put-50 p99 after the load %.2f. %s against its own empty member (medians): put-50 after the load at **%.0f%%** of the empty rate, p99 **%.2f×** the empty p99.",
			kind, loadRate, r(func(l loadResult) float64 { return float64(l.LoadRSSBytes) }),
			r(func(l loadResult) float64 { return l.After.OpsPerSec }), r(func(l loadResult) float64 { return l.After.P99MS }),
			kind, 100*med(kind, func(l loadResult) float64 { return ratio(l.After.OpsPerSec, l.Empty.OpsPerSec) }),
			med(kind, func(l loadResult) float64 { return ratio(l.After.P99MS, l.Empty.P99MS) })))
	}
	return strings.Join(out, "\n")
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
