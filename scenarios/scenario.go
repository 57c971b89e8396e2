package scenarios

import (
	"fmt"
	"strings"

	"metastore/sim"
)

// E is the election timeout in ticks; budgets are multiples of it.
const E = sim.ElectionTicks

// Scenario is one named fault schedule with the property it proves.
type Scenario struct {
	ID       string // "P1", "F3"
	Name     string // a sentence: what happens and what must hold
	Property string // the property, as the table prints it
	Run      func(env *Env) *Result
}

// Slug is the scenario's test name: its ID and sentence, underscored.
func (s Scenario) Slug() string {
	return s.ID + "_" + strings.ReplaceAll(s.Name, " ", "_")
}

// Env is what a scenario runs in: the seed, a log, and a way to pin raft's
// process-wide election jitter to the seed before each run.
type Env struct {
	Seed uint64
	Logf func(format string, args ...any)
	// Pin resets raft's election jitter (crypto/rand) to the seed.
	Pin func(seed uint64)
}

// Script starts a scripted cluster for one run of the scenario (the
// mechanism run or its control), its election jitter pinned to the seed.
func (e *Env) Script(o sim.ScriptOptions) *sim.Script {
	if e.Pin != nil {
		e.Pin(e.Seed)
	}
	o.Seed = e.Seed
	sc := sim.NewScript(o)
	sc.Boot()
	return sc
}

// Result is what a scenario found: its checks (each must pass), the key
// figures for the table, the report lines, and the runs' trace hashes.
type Result struct {
	Checks  []Check
	Figures string
	Lines   []string
	Traces  []uint64
	// Table is an extra table (header row first) the scenario publishes
	// below the scenario table, such as P7's four-way comparison.
	Table [][]string
}

// Check is one asserted statement and whether it held.
type Check struct {
	What string
	OK   bool
}

// Expect records a check.
func (r *Result) Expect(ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{What: fmt.Sprintf(format, args...), OK: ok})
}

// Report adds a line to the scenario's printed report.
func (r *Result) Report(format string, args ...any) {
	r.Lines = append(r.Lines, fmt.Sprintf(format, args...))
}

// Passed reports whether every check held.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Finish ends one run (heal everything, demand liveness, run the checkers),
// reports its figures under label, and expects no violation.
func (r *Result) Finish(label string, sc *sim.Script, recoverTicks int) *sim.Report {
	rep := sc.Finish()
	r.Traces = append(r.Traces, rep.TraceHash)
	r.Report("%s: %s ticks_to_recover=%d", label, sc.Figures(), recoverTicks)
	r.Report("%s: linearizability %s, trace=%016x", label, rep.Lin, rep.TraceHash)
	for _, v := range rep.Violations {
		r.Report("%s: VIOLATION %s", label, v)
	}
	return rep
}

// FinishClean is Finish plus the check that the run broke no invariant and
// its history is linearizable.
func (r *Result) FinishClean(label string, sc *sim.Script, recoverTicks int) *sim.Report {
	rep := r.Finish(label, sc, recoverTicks)
	r.Expect(!rep.Failed(), "%s: no invariant or checker violation (%d found)", label, len(rep.Violations))
	return rep
}

// All is every scenario in table order.
func All() []Scenario {
	var out []Scenario
	out = append(out, electionScenarios()...)
	out = append(out, readScenarios()...)
	out = append(out, invariantScenarios()...)
	out = append(out, faultScenarios()...)
	return out
}
