package checker

// Test helpers: compact constructors for hand-written histories.

func put(k, v string) Input { return Input{Kind: Put, Key: k, Value: v} }
func get(k string) Input    { return Input{Kind: Get, Key: k} }
func del(k string) Input    { return Input{Kind: Delete, Key: k} }
func rangeP(p string) Input { return Input{Kind: Range, Key: p} }
func casValue(k, old, v string) Input {
	return Input{Kind: TxnCAS, Key: k, Value: v, Compare: CompareValue, CmpValue: old, ElseGet: true}
}
func casMod(k string, mod int64, v string) Input {
	return Input{Kind: TxnCAS, Key: k, Value: v, Compare: CompareModRev, CmpRev: mod}
}

func wrote(rev int64) Output { return Output{Status: OK, Revision: rev} }
func deleted(rev, n int64) Output {
	return Output{Status: OK, Revision: rev, Deleted: n}
}
func found(rev int64, kv KV) Output { return Output{Status: OK, Revision: rev, Found: true, KV: kv} }
func missing(rev int64) Output      { return Output{Status: OK, Revision: rev} }
func cas(rev int64, ok bool) Output { return Output{Status: OK, Revision: rev, Succeeded: ok} }

func kv(k, v string, mod, create, ver int64) KV {
	return KV{Key: k, Value: v, ModRev: mod, CreateRev: create, Version: ver}
}

// hb builds a history of completed, failed and open operations.
type hb struct{ ops []Op }

func (b *hb) ok(client int, invoke, ret int64, in Input, out Output) *hb {
	out.Status = OK
	b.ops = append(b.ops, Op{ID: len(b.ops), ClientID: client, Input: in, Output: out, Invoke: invoke, Return: ret})
	return b
}

func (b *hb) failed(client int, invoke, ret int64, in Input) *hb {
	b.ops = append(b.ops, Op{ID: len(b.ops), ClientID: client, Input: in, Output: Output{Status: Failed}, Invoke: invoke, Return: ret})
	return b
}

func (b *hb) open(client int, invoke int64, in Input) *hb {
	b.ops = append(b.ops, Op{ID: len(b.ops), ClientID: client, Input: in, Output: Output{Status: Unknown}, Invoke: invoke, Return: Open})
	return b
}

func compact(rev int64) Input { return Input{Kind: Compact, Revision: rev} }
