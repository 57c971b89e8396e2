// Package scenarios holds the named, targeted fault schedules that verify
// raft's election safeguards (PreVote, CheckQuorum, ReadIndex) and the
// fault library, on the simulator's scripted runs (sim.Script).
//
// Each scenario is a sentence that states its property, runs the mechanism
// on, and runs a control with the mechanism off; the control must fail or
// measurably differ, so the property is shown to come from the mechanism
// and not from luck. Every run also checks raft's invariants after every
// step (P10) and, at the end, the history's linearizability.
//
// # Usage
//
//	go test ./scenarios -v                                  # every scenario on the fixed seeds
//	go test ./scenarios -run 'Scenarios/P1_' -seed=7 -v     # one scenario, one seed
//	make scenarios                                          # the table, also written as Markdown
//
// Budgets are in ticks (E = sim.ElectionTicks), never in wall-clock time.
package scenarios
