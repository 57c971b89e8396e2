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
	ClientCPUPerOpUS float64 `json:"client_cpu_us_per_op"`
	RSSBytes         int64   `json:"rss_bytes"`
	Errors           int64   `json:"errors"` // summed over the rounds
	Rounds           int     `json:"rounds"` // rounds that produced a figure
	Skewed           int     `json:"skewed"` // of those, rounds marked skewed
}

// summary is one line of a ratio table.
type summary struct {
	Nodes     int     `json:"nodes"`
	Workload  string  `json:"workload"`
	Title     string  `json:"title"`
	Tool      string  `json:"tool"`
	Etcd      side    `json:"etcd"`
	MetaStore side    `json:"metastore"`
	Ratio     float64 `json:"ratio"` // MetaStore/etcd throughput
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
			Etcd: reduce(rs, etcdKind), MetaStore: reduce(rs, metastoreKind)}
		if s.Etcd.OpsPerSec > 0 {
			s.Ratio = s.MetaStore.OpsPerSec / s.Etcd.OpsPerSec
		}
		out = append(out, s)
	}
	return out
}

func reduce(rs []runResult, kind string) side {
	var ops, p99, scpu, ccpu, rss []float64
	var sd side
	for _, r := range rs {
		if r.Server != kind || r.Err != "" {
			continue
		}
		ops = append(ops, r.OpsPerSec)
		p99 = append(p99, r.P99MS)
		scpu = append(scpu, r.ServerCPUPerOpUS)
		ccpu = append(ccpu, r.ClientCPUPerOpUS)
		rss = append(rss, float64(r.RSSBytes))
		sd.Errors += r.Errors
		sd.Rounds++
		if r.Skewed {
			sd.Skewed++
		}
	}
	sd.OpsPerSec, sd.P99MS = median(ops), median(p99)
	sd.ServerCPUPerOpUS, sd.ClientCPUPerOpUS = median(scpu), median(ccpu)
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
	b.WriteString("- ratio is MetaStore/etcd throughput; p99, CPU and RSS are medians over the rounds; server CPU/op is utime+stime of all members " +
		"(/proc/<pid>/stat) over the run divided by operations; RSS is the largest member's VmRSS at the end; tool CPU/op is the load tool process's " +
		"whole CPU (its start included) divided by operations\n")
	fmt.Fprintf(&b, "- took %s, builds included\n", rep.Finished.Sub(rep.Started).Round(time.Second))

	nodes := []int{}
	for _, s := range rep.Summary {
		if !slices.Contains(nodes, s.Nodes) {
			nodes = append(nodes, s.Nodes)
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "\n## %d node%s: MetaStore / etcd\n\n", n, map[bool]string{true: "", false: "s"}[n == 1])
		b.WriteString("| workload | load tool | etcd ops/s | MetaStore ops/s | ratio | p99 etcd | p99 MetaStore | server CPU/op etcd | server CPU/op MetaStore | RSS etcd | RSS MetaStore | tool CPU/op (etcd, MetaStore) | errors | skewed rounds |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range rep.Summary {
			if s.Nodes != n {
				continue
			}
			e, m := s.Etcd, s.MetaStore
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s | %d, %d | %d/%d |\n",
				s.Title, s.Tool, rate(e), rate(m), ratio(s), msStr(e.P99MS, e.Rounds), msStr(m.P99MS, m.Rounds),
				usStr(e.ServerCPUPerOpUS, e.Rounds), usStr(m.ServerCPUPerOpUS, m.Rounds),
				mbStr(e.RSSBytes, e.Rounds), mbStr(m.RSSBytes, m.Rounds),
				usStr(e.ClientCPUPerOpUS, e.Rounds), usStr(m.ClientCPUPerOpUS, m.Rounds),
				e.Errors, m.Errors, e.Skewed+m.Skewed, e.Rounds+m.Rounds)
		}
	}
	if len(rep.Loads) > 0 {
		b.WriteString("\n## Loaded store (1 node): 1,000 clients load 16-byte sequential keys with 256-byte values, then a 50-client put over them\n\n")
		b.WriteString("| server | round | keys | load ops/s | load time | load p99 | load slowest | load errors | RSS after load | put-50 after ops/s | p99 | slowest | errors | other load | skewed |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, l := range rep.Loads {
			if l.Err != "" {
				fmt.Fprintf(&b, "| %s | %d | %d | failed: %s |\n", l.Server, l.Round, l.Keys, oneLine(l.Err))
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.0f s | %.0f ms | %.0f ms | %d | %s | %.0f | %.1f ms | %.0f ms | %d | %.0f%%, %.0f%% | %s |\n",
				l.Server, l.Round, l.Keys, l.Load.OpsPerSec, l.LoadSeconds, l.Load.P99MS, l.Load.MaxMS, l.Load.Errors,
				mb(l.LoadRSSBytes), l.After.OpsPerSec, l.After.P99MS, l.After.MaxMS, l.After.Errors,
				l.LoadOther*100, l.AfterOther*100, yes(l.Skewed))
		}
		if r := loadRatios(rep.Loads); r != "" {
			b.WriteString("\n" + r + "\n")
		}
	}
	if len(rep.Runs) == 0 {
		return b.String()
	}
	b.WriteString("\n## Rounds\n\n")
	b.WriteString("| nodes | workload | load tool | round | server | ops/s | p99 | slowest | errors | server CPU/op | tool CPU/op | RSS | other load | loadavg 1m | skewed |\n")
	b.WriteString("|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Runs {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | failed: %s |\n", r.Nodes, r.Title, r.Tool, r.Round, r.Server, oneLine(r.Err))
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | %.0f | %.1f ms | %.0f ms | %d | %.0f µs | %.0f µs | %s | %.0f%% | %.2f | %s |\n",
			r.Nodes, r.Title, r.Tool, r.Round, r.Server, r.OpsPerSec, r.P99MS, r.MaxMS, r.Errors,
			r.ServerCPUPerOpUS, r.ClientCPUPerOpUS, mb(r.RSSBytes), r.OtherLoad*100, r.LoadAvg1, yes(r.Skewed))
	}
	return b.String()
}

func rate(s side) string {
	if s.Rounds == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", s.OpsPerSec)
}

func ratio(s summary) string {
	if s.Etcd.Rounds == 0 || s.MetaStore.Rounds == 0 || s.Etcd.OpsPerSec == 0 {
		return "—"
	}
	return fmt.Sprintf("**%.2f**", s.Ratio)
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

// loadRatios is one sentence of MetaStore/etcd ratios of the -load
// medians, or "" without figures from both.
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
	r := func(f func(loadResult) float64) float64 {
		e := med(etcdKind, f)
		if e == 0 {
			return 0
		}
		return med(metastoreKind, f) / e
	}
	loadRate := r(func(l loadResult) float64 { return l.Load.OpsPerSec })
	if loadRate == 0 {
		return ""
	}
	return fmt.Sprintf("MetaStore/etcd (medians): load rate **%.2f**, resident memory after the load **%.2f**, put-50 rate after the load **%.2f**, put-50 p99 after the load %.2f.",
		loadRate, r(func(l loadResult) float64 { return float64(l.LoadRSSBytes) }),
		r(func(l loadResult) float64 { return l.After.OpsPerSec }), r(func(l loadResult) float64 { return l.After.P99MS }))
}
