package scenarios

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/cryptotest"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "replay one seed; 0 runs the fixed seed list")
	tableFlag = flag.String("table", "", "write the scenario table (first seed) as Markdown to this file")
)

// defaultSeeds keep `go test ./...` reproducible: the scenarios hold on
// each of them.
var defaultSeeds = []uint64{1, 2, 3}

func seeds() []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	return defaultSeeds
}

func replayLine(s Scenario, seed uint64) string {
	return fmt.Sprintf("go test ./scenarios -run 'Scenarios/%s_' -seed=%d -v", s.ID, seed)
}

func runScenario(t *testing.T, s Scenario, seed uint64) *Result {
	env := &Env{Seed: seed, Logf: t.Logf, Pin: func(seed uint64) { cryptotest.SetGlobalRandom(t, seed) }}
	return s.Run(env)
}

// row is one line of the scenario table.
type row struct {
	s       Scenario
	seed    uint64
	verdict string
	figures string
	table   [][]string
}

// TestScenarios runs every scenario with its control on each seed.
func TestScenarios(t *testing.T) {
	var rows []row
	for _, s := range All() {
		t.Run(s.Slug(), func(t *testing.T) {
			for i, seed := range seeds() {
				t.Logf("replay: %s", replayLine(s, seed))
				t.Logf("SEED=%d property: %s", seed, s.Property)
				r := runScenario(t, s, seed)
				for _, l := range r.Lines {
					t.Logf("  %s", l)
				}
				for _, c := range r.Checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					t.Logf("  [%s] %s", mark, c.What)
				}
				if !r.Passed() {
					t.Errorf("%s failed on seed %d; replay: %s", s.ID, seed, replayLine(s, seed))
				}
				if i == 0 {
					v := "pass"
					if !r.Passed() {
						v = "FAIL"
					}
					rows = append(rows, row{s: s, seed: seed, verdict: v, figures: r.Figures, table: r.Table})
				}
			}
		})
	}
	printTable(t, rows)
}

// TestScenarioDeterminism runs each scenario twice on one seed: the same
// report and the same trace hashes.
func TestScenarioDeterminism(t *testing.T) {
	if *seedFlag != 0 {
		t.Skip("-seed replays one seed (TestScenarios)")
	}
	for _, s := range All() {
		a := runScenario(t, s, 1)
		b := runScenario(t, s, 1)
		if strings.Join(a.Lines, "\n") != strings.Join(b.Lines, "\n") || fmt.Sprint(a.Traces) != fmt.Sprint(b.Traces) {
			t.Errorf("%s: two runs of seed 1 differ:\n%s\n---\n%s", s.ID, strings.Join(a.Lines, "\n"), strings.Join(b.Lines, "\n"))
		}
	}
}

// printTable prints one row per scenario and writes the Markdown table.
func printTable(t *testing.T, rows []row) {
	var md strings.Builder
	md.WriteString("| scenario | property | verdict | key figures (seed) |\n|---|---|---|---|\n")
	for _, r := range rows {
		t.Logf("%-3s %-70s %-4s %s", r.s.ID, r.s.Name, r.verdict, r.figures)
		fmt.Fprintf(&md, "| %s %s | %s | %s | %s (seed %d) |\n", r.s.ID, r.s.Name, r.s.Property, r.verdict, r.figures, r.seed)
	}
	for _, r := range rows {
		if len(r.table) == 0 {
			continue
		}
		fmt.Fprintf(&md, "\n%s %s (seed %d):\n\n", r.s.ID, r.s.Name, r.seed)
		for i, cells := range r.table {
			t.Logf("%s %s", r.s.ID, strings.Join(cells, " | "))
			fmt.Fprintf(&md, "| %s |\n", strings.Join(cells, " | "))
			if i == 0 {
				fmt.Fprintf(&md, "|%s\n", strings.Repeat("---|", len(cells)))
			}
		}
	}
	if *tableFlag != "" {
		if err := os.WriteFile(*tableFlag, []byte(md.String()), 0o644); err != nil {
			t.Errorf("write table: %v", err)
		}
	}
}
