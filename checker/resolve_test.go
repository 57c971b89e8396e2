package checker

import "testing"

func TestResolveUnknownSettlesWritesFromTheLog(t *testing.T) {
	var h History
	p1 := h.Invoke(1, Input{Kind: Put, Key: "a", Value: "v1"}, 10)
	h.Timeout(p1)
	p2 := h.Invoke(2, Input{Kind: Put, Key: "a", Value: "v2"}, 10)
	h.Timeout(p2)
	d := h.Invoke(3, Input{Kind: Delete, Key: "b"}, 10)
	h.Timeout(d)
	applied := []AppliedWrite{{Revision: 2, Key: "a", Value: "v1"}}
	got := ResolveUnknown(h.Ops(), applied)
	if got[p1].Output.Status != OK || got[p1].Output.Revision != 2 || got[p1].Return != Open {
		t.Errorf("applied put not settled at its revision: %v", got[p1])
	}
	if got[p2].Output.Status != Failed {
		t.Errorf("put missing from the log must be dropped: %v", got[p2])
	}
	if got[d].Output.Status != Failed {
		t.Errorf("delete with no unclaimed deletion must be dropped: %v", got[d])
	}
	if h.Ops()[p1].Output.Status != Unknown {
		t.Error("ResolveUnknown modified its input")
	}
}

func TestBackgroundWritesKeepRevisionsContinuous(t *testing.T) {
	var h History
	p := h.Invoke(1, Input{Kind: Put, Key: "k", Value: "x"}, 10)
	h.Return(p, Output{Revision: 3}, 20)
	g := h.Invoke(1, Input{Kind: Get, Key: "k"}, 30)
	h.Return(g, Output{Revision: 4, Found: true, KV: KV{Value: "x", ModRev: 3, CreateRev: 3, Version: 1}}, 40)
	applied := []AppliedWrite{{Revision: 2, Key: "lease/1", Value: "held"}, {Revision: 3, Key: "k", Value: "x"},
		{Revision: 4, Key: "lease/1", Delete: true}}
	own := func(k string) bool { return k == "k" }
	if res, _ := Linearizable(h.Ops(), Options{}); res.Verdict != Fail {
		t.Fatalf("without background writes the revisions cannot add up, got %v", res.Verdict)
	}
	bg, ok := Background(applied, own, 9, h.Len())
	if !ok || len(bg) != 2 {
		t.Fatalf("background = %v, %v", bg, ok)
	}
	if res, err := Linearizable(append(h.Ops(), bg...), Options{}); err != nil || res.Verdict != Pass {
		t.Fatalf("with background writes: %v %v", res, err)
	}
	multi := append(applied, AppliedWrite{Revision: 5, Key: "lease/2", Delete: true}, AppliedWrite{Revision: 5, Key: "lease/3", Delete: true})
	if _, ok := Background(multi, own, 9, 0); ok {
		t.Error("a multi-key background revision must be reported")
	}
}
