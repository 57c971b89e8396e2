package checker

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refStore is a deliberately naive etcd key space, independent of the
// model's code, used to generate correct outputs. It keeps a full copy of
// the key space at every revision for reads at old revisions.
type refStore struct {
	rev       int64
	kvs       map[string]KV
	compacted int64
	past      map[int64]map[string]KV // revision -> the key space then
}

func (r *refStore) apply(in Input) Output {
	out := r.serve(in)
	if r.past == nil {
		r.past = map[int64]map[string]KV{}
	}
	if _, ok := r.past[r.rev]; !ok {
		r.past[r.rev] = maps.Clone(r.kvs)
	}
	return out
}

func (r *refStore) serve(in Input) Output {
	out := Output{Status: OK}
	if in.Historical() {
		switch {
		case in.Revision > r.rev:
			return Output{Status: OK, FutureRev: true}
		case in.Revision < r.compacted:
			return Output{Status: OK, Compacted: true}
		}
		then := &refStore{rev: r.rev, kvs: r.past[in.Revision]}
		if then.kvs == nil {
			then.kvs = map[string]KV{} // before the first write
		}
		in.Revision = 0
		return then.serve(in)
	}
	if in.Kind == Compact {
		switch {
		case in.Revision > r.rev:
			return Output{Status: OK, FutureRev: true}
		case in.Revision <= r.compacted:
			return Output{Status: OK, Compacted: true}
		}
		r.compacted = in.Revision
		out.Revision = r.rev
		return out
	}
	cur, ok := r.kvs[in.Key]
	write := func(v string) {
		r.rev++
		next := KV{Key: in.Key, Value: v, ModRev: r.rev, CreateRev: r.rev, Version: 1}
		if ok {
			next.CreateRev, next.Version = cur.CreateRev, cur.Version+1
		}
		r.kvs[in.Key] = next
	}
	switch in.Kind {
	case Get:
		out.Found, out.KV = ok, cur
	case Put:
		write(in.Value)
	case Delete:
		if ok {
			r.rev++
			delete(r.kvs, in.Key)
			out.Deleted = 1
		}
	case TxnCAS:
		var holds bool
		switch in.Compare {
		case CompareValue:
			holds = ok && cur.Value == in.CmpValue
		case CompareVersion:
			holds = cur.Version == in.CmpRev
		case CompareModRev:
			holds = cur.ModRev == in.CmpRev
		case CompareCreateRev:
			holds = cur.CreateRev == in.CmpRev
		}
		if holds {
			write(in.Value)
			out.Succeeded = true
		} else if in.ElseGet {
			out.Found, out.KV = ok, cur
		}
	case Range:
		for k, v := range r.kvs {
			if in.End == "" && strings.HasPrefix(k, in.Key) || in.End != "" && k >= in.Key && k < in.End {
				out.KVs = append(out.KVs, v)
			}
		}
		sort.Slice(out.KVs, func(i, j int) bool { return out.KVs[i].Key < out.KVs[j].Key })
		out.Count = int64(len(out.KVs))
		if in.CountOnly {
			out.KVs = nil
		} else if in.Limit > 0 && len(out.KVs) > int(in.Limit) {
			out.KVs, out.More = out.KVs[:in.Limit], true
		}
	}
	out.Revision = r.rev
	return out
}

func genInput(t *rapid.T, i int) Input {
	key := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
	val := fmt.Sprintf("v%d", i)
	switch rapid.IntRange(0, 7).Draw(t, "kind") {
	case 0:
		return get(key)
	case 5:
		return Input{Kind: Compact, Revision: int64(rapid.IntRange(1, i+2).Draw(t, "compactRev"))}
	case 6:
		return getAt(key, int64(rapid.IntRange(1, i+2).Draw(t, "readRev")))
	case 7:
		in := rangeAt(key, "", int64(rapid.IntRange(1, i+2).Draw(t, "readRev")))
		if rapid.Bool().Draw(t, "span") {
			in.Key, in.End = "a", rapid.SampledFrom([]string{"b", "c", "d"}).Draw(t, "end")
		}
		switch rapid.IntRange(0, 2).Draw(t, "cut") {
		case 1:
			in.Limit = int64(rapid.IntRange(1, 2).Draw(t, "limit"))
		case 2:
			in.CountOnly = true
		}
		return in
	case 1:
		return put(key, val)
	case 2:
		return del(key)
	case 3:
		in := Input{Kind: TxnCAS, Key: key, Value: val, ElseGet: rapid.Bool().Draw(t, "elseGet")}
		in.Compare = CompareTarget(rapid.IntRange(int(CompareValue), int(CompareCreateRev)).Draw(t, "target"))
		in.CmpValue = fmt.Sprintf("v%d", rapid.IntRange(0, i).Draw(t, "cmpValue"))
		in.CmpRev = int64(rapid.IntRange(0, i+1).Draw(t, "cmpRev"))
		return in
	}
	return rangeP(rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "prefix"))
}

// genSequential draws a sequential history: operations one after another
// on three clients, each answered by refStore. With timeouts, some writes
// get no answer and are applied or not at random.
func genSequential(t *rapid.T, timeouts bool) []Op {
	ref := &refStore{rev: 1, kvs: map[string]KV{}}
	var h History
	n := rapid.IntRange(1, 30).Draw(t, "n")
	for i := range n {
		in := genInput(t, i)
		id := h.Invoke(rapid.IntRange(0, 2).Draw(t, "client"), in, int64(2*i))
		if timeouts && in.Kind != Get && in.Kind != Range && in.Kind != Compact && rapid.IntRange(0, 5).Draw(t, "timeout") == 0 {
			if rapid.Bool().Draw(t, "applied") {
				ref.apply(in)
			}
			h.Timeout(id)
			continue
		}
		h.Return(id, ref.apply(in), int64(2*i+1))
	}
	return h.Ops()
}

func TestRapidSequentialIsLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genSequential(t, true)
		res, err := Linearizable(ops, Options{})
		if err != nil || res.Verdict != Pass {
			t.Fatalf("sequential history judged %v (%v)", res, err)
		}
		if err := RevisionsRespectRealTime(ops); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRapidMutationIsCaught changes one observable field of one answer in
// a sequential history without timeouts. Such a history has exactly one
// possible linearization and the model is deterministic, so the mutated
// history must be rejected.
func TestRapidMutationIsCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genSequential(t, false)
		i := rapid.IntRange(0, len(ops)-1).Draw(t, "victim")
		op := &ops[i]
		out := &op.Output
		what := "revision"
		refused := out.Compacted || out.FutureRev
		switch rapid.IntRange(0, 1).Draw(t, "mutation") {
		case 0:
			if refused {
				out.Compacted, out.FutureRev, what = out.FutureRev, out.Compacted, "refusal"
				break
			}
			out.Revision += int64(rapid.SampledFrom([]int{-1, 1}).Draw(t, "delta"))
		default:
			switch {
			case refused:
				out.Compacted, out.FutureRev, what = false, false, "refusal"
			case op.Input.Kind == TxnCAS:
				out.Succeeded, what = !out.Succeeded, "succeeded"
			case op.Input.Kind == Delete:
				out.Deleted, what = 1-out.Deleted, "deleted"
			case op.Input.Kind == Get && out.Found:
				out.KV.Value, what = "mutated", "value"
			case op.Input.Kind == Get:
				out.Found, out.KV, what = true, kv(op.Input.Key, "ghost", 1, 1, 1), "found"
			case op.Input.Kind == Range && op.Input.CountOnly:
				out.Count, what = out.Count+1, "count"
			case op.Input.Kind == Range:
				out.KVs, what = append(out.KVs, kv("zz", "ghost", 1, 1, 1)), "range"
			default:
				out.Revision++
			}
		}
		res, err := Linearizable(ops, Options{})
		if err != nil || res.Verdict != Fail {
			t.Fatalf("mutating %s of %v: judged %v (%v)", what, *op, res, err)
		}
	})
}
