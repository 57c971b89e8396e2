// Package deploy holds deployment artefacts; its test checks alerts.yml
// against the metrics the server registers.
package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"metastore/net/metrics"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promqlWords are the functions, aggregations and keywords alerts.yml uses;
// any other identifier in an expression must be a metric.
var promqlWords = []string{"histogram_quantile", "rate", "increase", "sum", "by", "and", "or", "unless", "offset"}

var (
	labelMatchers = regexp.MustCompile(`\{[^}]*\}`)
	rangeSelector = regexp.MustCompile(`\[[^\]]*\]`)
	grouping      = regexp.MustCompile(`\b(by|without)\s*\([^)]*\)`)
	offsetClause  = regexp.MustCompile(`\boffset\s+\w+`)
	identifier    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricsIn returns the metric names an expression reads.
func metricsIn(expr string) []string {
	for _, re := range []*regexp.Regexp{labelMatchers, rangeSelector, grouping, offsetClause} {
		expr = re.ReplaceAllString(expr, " ")
	}
	var out []string
	for _, w := range identifier.FindAllString(expr, -1) {
		if !slices.Contains(promqlWords, w) {
			out = append(out, w)
		}
	}
	return out
}

// family maps a series name to its metric family (histogram suffixes off).
func family(series string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(series, suf); ok && slices.Contains(metrics.Names(), f) {
			return f
		}
	}
	return series
}

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	n := 0
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.For == "" {
				t.Errorf("rule %q: alert, expr and for are all required", r.Alert)
			}
			if seen[r.Alert] {
				t.Errorf("alert %q defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: needs labels.severity and annotations.summary", r.Alert)
			}
			ms := metricsIn(r.Expr)
			if len(ms) == 0 {
				t.Errorf("%s: expression reads no metric: %s", r.Alert, r.Expr)
			}
			for _, m := range ms {
				if !slices.Contains(metrics.Names(), family(m)) {
					t.Errorf("%s: %q is not a metric net/metrics registers", r.Alert, m)
				}
				used[family(m)] = true
			}
		}
	}
	// The seed report's four rules must be there.
	for _, a := range []string{"RaftProposeLatencyHigh", "GRPCRequestLatencyHigh", "RaftInflightMessagesHigh", "GRPCActiveConnectionsHigh"} {
		if !seen[a] {
			t.Errorf("seed alert %s missing", a)
		}
	}
	t.Logf("%d rules over %d metrics", n, len(used))
}

// TestMetricsInCatchesUnknownNames proves the name check is not vacuous.
func TestMetricsInCatchesUnknownNames(t *testing.T) {
	got := metricsIn(`histogram_quantile(0.99, sum by (le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{job="x"}[5m]))) > 0.5`)
	if !slices.Equal(got, []string{"etcd_disk_wal_fsync_duration_seconds_bucket"}) {
		t.Fatalf("got %v", got)
	}
	if slices.Contains(metrics.Names(), family(got[0])) {
		t.Fatal("an etcd metric name passed as ours")
	}
}
