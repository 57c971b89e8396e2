package checker

import (
	"fmt"
	"math"
	"strings"
)

// Open is the Return time of an operation whose outcome is unknown: it may
// take effect at any point after its invocation, or never.
const Open int64 = math.MaxInt64

// Kind names a client operation.
type Kind uint8

// The operations a client records. Each maps onto one etcd request.
const (
	// Get reads one key (RangeRequest without RangeEnd).
	Get Kind = iota + 1
	// Put writes one key (PutRequest).
	Put
	// Delete deletes one key (DeleteRangeRequest without RangeEnd).
	Delete
	// TxnCAS is Txn(If(compare on Key)).Then(Put(Key, Value)), with an
	// optional Else(Get(Key)) branch (Input.ElseGet).
	TxnCAS
	// Range reads every key starting with Input.Key ("" reads all keys),
	// or, with Input.End, the keys in [Key, End).
	Range
	// GrantWrite gives the limited user (Input.Limited) write access to
	// Input.Key; RevokeWrite takes it back (Output.Succeeded false: it had
	// none). Neither changes the key space or its revision.
	GrantWrite
	RevokeWrite
	// Compact compacts the history at Input.Revision (CompactionRequest).
	// It changes no key and creates no revision; it only raises the
	// compacted floor. Below or at the floor it is refused with
	// Output.Compacted, above the current revision with Output.FutureRev.
	Compact
)

var kindNames = [...]string{Get: "get", Put: "put", Delete: "delete", TxnCAS: "cas", Range: "range",
	GrantWrite: "grant-write", RevokeWrite: "revoke-write", Compact: "compact"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// CompareTarget is the field a TxnCAS compares for equality, as etcd's
// Compare.Target.
type CompareTarget uint8

// Compare targets. As in etcd, a missing key has version, create and mod
// revision 0 and fails every value comparison.
const (
	CompareValue CompareTarget = iota + 1
	CompareVersion
	CompareModRev
	CompareCreateRev
)

var targetNames = [...]string{CompareValue: "value", CompareVersion: "version", CompareModRev: "mod", CompareCreateRev: "create"}

func (c CompareTarget) String() string {
	if int(c) < len(targetNames) && targetNames[c] != "" {
		return targetNames[c]
	}
	return fmt.Sprintf("target(%d)", uint8(c))
}

// Input is what a client asked for.
type Input struct {
	Kind Kind
	// Key is the key (Get, Put, Delete, TxnCAS) or the prefix (Range).
	Key string
	// Value is the value written by Put and TxnCAS. Workloads make it unique
	// per write: the log witnesses identify writes by (Key, Value).
	Value string
	// Compare, CmpValue and CmpRev describe a TxnCAS's equality compare:
	// CmpValue for CompareValue, CmpRev for the revision/version targets
	// (0 means "the key does not exist").
	Compare  CompareTarget
	CmpValue string
	CmpRev   int64
	// ElseGet adds Else(Get(Key)) to a TxnCAS; the read is then checked.
	ElseGet bool
	// Limited: the operation runs as the workload's limited user, who may
	// read every key but write only the keys GrantWrite gave it. A write
	// it may not make is denied and changes nothing.
	Limited bool
	// Revision is where Compact compacts; Physical is its physical flag,
	// recorded only (this store compacts completely at apply either way).
	// For Get and Range, Revision > 0 reads the key space as it was at
	// that revision (RangeRequest.Revision): refused with Output.Compacted
	// below the compacted floor, with Output.FutureRev above the current
	// revision.
	Revision int64
	Physical bool
	// End makes a Range read [Key, End) instead of the prefix Key.
	End string
	// Limit (> 0) and CountOnly are a Range's RangeRequest.Limit and
	// CountOnly; with either, Output.Count and Output.More are checked.
	Limit     int64
	CountOnly bool
}

// Span returns a Range's keys as etcd's [key, range end): the prefix's
// range, or [Key, End). A range end of "\x00" means no upper bound.
func (in Input) Span() (key, end string) {
	if in.End != "" {
		return in.Key, in.End
	}
	return in.Key, PrefixEnd(in.Key)
}

// covers reports whether key k is in a Range's span (see Span) without
// building the prefix's range end: the model asks it on every step.
func (in Input) covers(k string) bool {
	if in.End == "" {
		return strings.HasPrefix(k, in.Key)
	}
	return k >= in.Key && (in.End == "\x00" || k < in.End)
}

// Historical reports whether in is a read at an old revision.
func (in Input) Historical() bool {
	return (in.Kind == Get || in.Kind == Range) && in.Revision > 0
}

// KV is a key as etcd returns it (mvccpb.KeyValue without lease).
type KV struct {
	Key       string
	Value     string
	ModRev    int64
	CreateRev int64
	Version   int64
}

// Status is what the client learnt about an operation's fate.
type Status uint8

// Statuses. The zero Status is invalid, so a forgotten status cannot pass.
const (
	// OK: the server answered; Output holds its answer.
	OK Status = iota + 1
	// Failed: the operation certainly did not take effect (for example it
	// was rejected before being proposed). It is left out of the check.
	Failed
	// Unknown: no answer (timeout, connection lost). The operation may take
	// effect at any time after its invocation, or never.
	Unknown
)

var statusNames = [...]string{OK: "ok", Failed: "failed", Unknown: "unknown"}

func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Output is the server's answer. Copy every field from the etcd response:
// the model checks all of them.
type Output struct {
	Status Status
	// Revision is the response header's revision: for a write that changed
	// state, the revision it created; otherwise the store's revision when it
	// was served.
	Revision int64
	// Found and KV: Get, and TxnCAS's else-branch read. KV.Key may be left
	// empty (the input names the key); its other fields must match.
	Found bool
	KV    KV
	// KVs: Range, sorted by key.
	KVs []KV
	// Count and More: a Range's RangeResponse.Count (every key in the span,
	// before Limit) and More (Limit cut some). Checked only when the input
	// set Limit or CountOnly.
	Count int64
	More  bool
	// Deleted: Delete's DeleteRangeResponse.Deleted (0 or 1).
	Deleted int64
	// Succeeded: TxnCAS's TxnResponse.Succeeded; for RevokeWrite, whether
	// there was a grant to revoke.
	Succeeded bool
	// Denied: the server refused the operation for lack of permission
	// (etcd's "permission denied"); nothing changed.
	Denied bool
	// Compacted and FutureRev: Compact was refused, its revision being at
	// or below an earlier compaction (etcd's ErrCompacted) or above the
	// current revision (ErrFutureRev); or a read at Input.Revision was,
	// that revision being below the last compaction's or above the current
	// one. Nothing changed.
	Compacted bool
	FutureRev bool
}

// Op is one recorded client operation. Times are the simulator's virtual
// nanoseconds (any monotonic unit will do); the interval [Invoke, Return]
// is closed, so operations sharing an endpoint are concurrent.
type Op struct {
	ID       int // index in the History
	ClientID int
	Input    Input
	Output   Output
	Invoke   int64
	Return   int64 // Open while unanswered or Unknown
}

// writes reports whether o is an acknowledged operation that created a new
// revision.
func (o Op) writes() bool {
	if o.Output.Status != OK || o.Output.Denied {
		return false
	}
	switch o.Input.Kind {
	case Put:
		return true
	case Delete:
		return o.Output.Deleted > 0
	case TxnCAS:
		return o.Output.Succeeded
	}
	return false
}

func (in Input) String() string {
	if in.Limited {
		limited := in
		limited.Limited = false
		return "limited " + limited.String()
	}
	switch in.Kind {
	case Get:
		if in.Revision > 0 {
			return fmt.Sprintf("get(%q at %d)", in.Key, in.Revision)
		}
		return fmt.Sprintf("get(%q)", in.Key)
	case Delete:
		return fmt.Sprintf("%s(%q)", in.Kind, in.Key)
	case Put:
		return fmt.Sprintf("put(%q, %q)", in.Key, in.Value)
	case Range:
		var b strings.Builder
		if in.End != "" {
			fmt.Fprintf(&b, "range([%q, %q)", in.Key, in.End)
		} else {
			fmt.Fprintf(&b, "range(prefix %q", in.Key)
		}
		if in.Revision > 0 {
			fmt.Fprintf(&b, " at %d", in.Revision)
		}
		if in.Limit > 0 {
			fmt.Fprintf(&b, " limit %d", in.Limit)
		}
		if in.CountOnly {
			b.WriteString(" count only")
		}
		return b.String() + ")"
	case Compact:
		if in.Physical {
			return fmt.Sprintf("compact(%d, physical)", in.Revision)
		}
		return fmt.Sprintf("compact(%d)", in.Revision)
	case TxnCAS:
		cmp := fmt.Sprintf("%s==%d", in.Compare, in.CmpRev)
		if in.Compare == CompareValue {
			cmp = fmt.Sprintf("value==%q", in.CmpValue)
		}
		s := fmt.Sprintf("cas(%q if %s then put %q", in.Key, cmp, in.Value)
		if in.ElseGet {
			s += " else get"
		}
		return s + ")"
	}
	return fmt.Sprintf("%s(%q)", in.Kind, in.Key)
}

func (kv KV) String() string {
	return fmt.Sprintf("%q=%q@mod%d,create%d,v%d", kv.Key, kv.Value, kv.ModRev, kv.CreateRev, kv.Version)
}

// hasRevision reports whether o's answer carries a store revision (denied
// operations and permission changes do not).
func (o Op) hasRevision() bool {
	return o.Output.Status == OK && !o.Output.Denied && !o.Output.Compacted && !o.Output.FutureRev &&
		o.Input.Kind != GrantWrite && o.Input.Kind != RevokeWrite
}

// describe renders an output in the context of its input.
func (out Output) describe(in Input) string {
	if out.Status != OK {
		return out.Status.String()
	}
	if out.Denied {
		return "permission denied"
	}
	switch in.Kind {
	case GrantWrite:
		return "granted"
	case RevokeWrite:
		return fmt.Sprintf("revoked %t", out.Succeeded)
	}
	switch {
	case out.Compacted:
		return "compacted"
	case out.FutureRev:
		return "future revision"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d", out.Revision)
	switch in.Kind {
	case Get:
		if out.Found {
			fmt.Fprintf(&b, ", %q@mod%d,create%d,v%d", out.KV.Value, out.KV.ModRev, out.KV.CreateRev, out.KV.Version)
		} else {
			b.WriteString(", not found")
		}
	case Delete:
		fmt.Fprintf(&b, ", deleted %d", out.Deleted)
	case TxnCAS:
		fmt.Fprintf(&b, ", succeeded %t", out.Succeeded)
		if !out.Succeeded && in.ElseGet {
			if out.Found {
				fmt.Fprintf(&b, ", else %q@mod%d", out.KV.Value, out.KV.ModRev)
			} else {
				b.WriteString(", else not found")
			}
		}
	case Range:
		if in.Limit > 0 || in.CountOnly {
			fmt.Fprintf(&b, ", count %d, more %t", out.Count, out.More)
		}
		fmt.Fprintf(&b, ", %d keys [", len(out.KVs))
		for i, kv := range out.KVs {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%q=%q@%d", kv.Key, kv.Value, kv.ModRev)
		}
		b.WriteString("]")
	}
	return b.String()
}

// String renders an operation for error messages.
func (o Op) String() string {
	ret := "open"
	if o.Return != Open {
		ret = fmt.Sprint(o.Return)
	}
	return fmt.Sprintf("op #%d client %d [%d, %s] %s -> %s", o.ID, o.ClientID, o.Invoke, ret, o.Input, o.Output.describe(o.Input))
}
