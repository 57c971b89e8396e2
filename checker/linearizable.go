package checker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a linearizability check.
type Verdict uint8

// Verdicts. The zero Verdict is Inconclusive, so an unset verdict never
// reads as a pass.
const (
	// Inconclusive: the search ran out of time. Nothing was proved; callers
	// must not count it as a pass.
	Inconclusive Verdict = iota
	// Pass: a linearization exists.
	Pass
	// Fail: no linearization exists; the history proves a bug.
	Fail
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "linearizable"
	case Fail:
		return "NOT linearizable"
	}
	return "inconclusive (checker timed out)"
}

// Options tunes Linearizable. The zero value checks a history that starts
// on a fresh store with no time limit and writes no file.
type Options struct {
	// InitialRev is the store's revision when the history began, with none
	// of the history's keys present. 0 means 1 (a fresh etcd store). A test
	// against a used cluster reads the revision first and works under a
	// fresh key prefix.
	InitialRev int64
	// Timeout bounds porcupine's search; 0 means none. When it expires the
	// verdict is Inconclusive, and the verdict then depends on machine
	// speed: deterministic callers (the simulator) should leave it 0 or
	// treat Inconclusive as a failure to investigate.
	Timeout time.Duration
	// VisualizeDir, when set, receives porcupine's HTML visualization of a
	// failing history, named "linearizability-<Name>.html".
	VisualizeDir string
	// Name distinguishes visualization files (for example "seed-42");
	// "history" when empty. Characters outside [A-Za-z0-9._-] become '_'.
	Name string
}

// Result reports a linearizability check.
type Result struct {
	Verdict Verdict
	// Visualization is the path of the HTML file written for a Fail verdict,
	// "" if none was requested.
	Visualization string
	// Checked is the number of operations handed to porcupine, of which
	// Open had no answer; Dropped counts failed operations and unanswered
	// reads, which cannot affect the verdict.
	Checked, Open, Dropped int
}

func (r Result) String() string {
	s := fmt.Sprintf("%s (%d ops checked, %d open, %d dropped)", r.Verdict, r.Checked, r.Open, r.Dropped)
	if r.Visualization != "" {
		s += "; visualization: " + r.Visualization
	}
	return s
}

// Linearizable checks that ops (a History's Ops) could have been produced,
// in an order consistent with real time, by one etcd key-value store that
// applies each operation atomically, with revisions: every write that
// changes state returns exactly the previous revision plus one, every read
// returns the state's revision, values and per-key mod/create revision and
// version. Failed operations are dropped; Unknown ones may have taken effect
// at any point after their invocation or not at all.
//
// The error reports a malformed history (no verdict then) or a failure to
// write the visualization (the verdict stands).
func Linearizable(ops []Op, opts Options) (Result, error) {
	var res Result
	initial := opts.InitialRev
	if initial == 0 {
		initial = 1
	}
	if err := validate(ops, initial); err != nil {
		return res, err
	}
	history := toPorcupine(ops, &res)
	model := newModel(initial)
	verdict, info := porcupine.CheckOperationsVerbose(model, history, opts.Timeout)
	switch verdict {
	case porcupine.Ok:
		res.Verdict = Pass
	case porcupine.Illegal:
		res.Verdict = Fail
	default:
		res.Verdict = Inconclusive
	}
	if res.Verdict != Fail || opts.VisualizeDir == "" {
		return res, nil
	}
	path, err := visualize(model, info, opts)
	res.Visualization = path
	return res, err
}

// validate rejects histories the model cannot interpret, naming the op.
// A read at a revision before the history began is one: the model does not
// know the store then.
func validate(ops []Op, initialRev int64) error {
	for i, op := range ops {
		switch {
		case op.Input.Kind < Get || op.Input.Kind > Compact:
			return fmt.Errorf("checker: %v: unknown kind", op)
		case op.Input.Kind == TxnCAS && (op.Input.Compare < CompareValue || op.Input.Compare > CompareCreateRev):
			return fmt.Errorf("checker: %v: unknown compare target", op)
		case op.Output.Status < OK || op.Output.Status > Unknown:
			return fmt.Errorf("checker: op index %d (#%d): invalid status %v", i, op.ID, op.Output.Status)
		case op.Output.Status != Unknown && op.Return < op.Invoke:
			return fmt.Errorf("checker: %v: returns before it is invoked", op)
		case op.Input.Historical() && op.Input.Revision < initialRev:
			return fmt.Errorf("checker: %v: reads before the history's initial revision %d", op, initialRev)
		case op.Input.Kind == Range && (op.Input.Limit < 0 || op.Input.End != "" && op.Input.End <= op.Input.Key):
			return fmt.Errorf("checker: %v: negative limit or empty span", op)
		}
	}
	return nil
}

// toPorcupine converts the history, dropping what cannot matter and
// opening unanswered operations, and renumbers clients densely (porcupine's
// visualization wants small ids).
func toPorcupine(ops []Op, res *Result) []porcupine.Operation {
	clients := map[int]int{}
	var ids []int
	for _, op := range ops {
		if _, ok := clients[op.ClientID]; !ok {
			clients[op.ClientID] = 0
			ids = append(ids, op.ClientID)
		}
	}
	sort.Ints(ids)
	for i, id := range ids {
		clients[id] = i
	}
	var out []porcupine.Operation
	for _, op := range ops {
		ret := op.Return
		switch op.Output.Status {
		case Failed:
			res.Dropped++
			continue
		case Unknown:
			if op.Input.Kind == Get || op.Input.Kind == Range {
				res.Dropped++
				continue
			}
			res.Open++
			ret = Open
		}
		res.Checked++
		out = append(out, porcupine.Operation{
			ClientId: clients[op.ClientID],
			Input:    op.Input,
			Call:     op.Invoke,
			Output:   op.Output,
			Return:   ret,
			Metadata: fmt.Sprintf("op #%d client %d", op.ID, op.ClientID),
		})
	}
	return out
}

func visualize(model porcupine.Model, info porcupine.LinearizationInfo, opts Options) (string, error) {
	name := opts.Name
	if name == "" {
		name = "history"
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, name)
	if err := os.MkdirAll(opts.VisualizeDir, 0o755); err != nil {
		return "", fmt.Errorf("checker: visualization: %w", err)
	}
	path := filepath.Join(opts.VisualizeDir, "linearizability-"+name+".html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", errors.Join(fmt.Errorf("checker: visualization %s", path), err)
	}
	return path, nil
}
