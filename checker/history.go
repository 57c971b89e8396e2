package checker

import "fmt"

// History records client operations as they happen. The zero value is
// ready to use. It is not safe for concurrent use: production tests that
// record from several goroutines must serialize calls themselves.
type History struct {
	ops []Op
}

// Invoke records that client issued in at time t and returns the
// operation's id. Until Return, Fail or Timeout is called, the operation is
// open (Status Unknown, Return Open).
func (h *History) Invoke(client int, in Input, t int64) int {
	id := len(h.ops)
	h.ops = append(h.ops, Op{
		ID:       id,
		ClientID: client,
		Input:    in,
		Output:   Output{Status: Unknown},
		Invoke:   t,
		Return:   Open,
	})
	return id
}

// Return records the server's answer out to operation id at time t. The
// status is set to OK whatever out.Status holds.
func (h *History) Return(id int, out Output, t int64) {
	op := h.open(id)
	out.Status = OK
	op.Output = out
	op.Return = t
}

// Fail records that operation id certainly did not take effect.
func (h *History) Fail(id int, t int64) {
	op := h.open(id)
	op.Output = Output{Status: Failed}
	op.Return = t
}

// Timeout records that operation id got no answer: it stays open forever.
func (h *History) Timeout(id int) {
	op := h.open(id)
	op.Output = Output{Status: Unknown}
	op.Return = Open
}

// Ops returns a copy of the recorded operations, in invocation order.
func (h *History) Ops() []Op {
	out := make([]Op, len(h.ops))
	copy(out, h.ops)
	return out
}

// Len is the number of recorded operations.
func (h *History) Len() int { return len(h.ops) }

// open returns operation id, panicking on a recorder misuse (unknown id or
// second completion), which is a bug in the caller, not in the system.
func (h *History) open(id int) *Op {
	if id < 0 || id >= len(h.ops) {
		panic(fmt.Sprintf("checker: no operation #%d", id))
	}
	op := &h.ops[id]
	if op.Return != Open || op.Output.Status != Unknown {
		panic(fmt.Sprintf("checker: operation #%d completed twice", id))
	}
	return op
}
