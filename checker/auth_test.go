package checker

import "testing"

func limited(in Input) Input { in.Limited = true; return in }
func grant(k string) Input   { return Input{Kind: GrantWrite, Key: k} }
func revoke(k string) Input  { return Input{Kind: RevokeWrite, Key: k} }

var denied = Output{Status: OK, Denied: true}

func authVerdict(t *testing.T, b *hb) Verdict {
	t.Helper()
	res, err := Linearizable(b.ops, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Verdict
}

// TestModelDeniedWritesChangeNothing: the model knows a denied write leaves
// the key space and its revision alone, and that only granted keys can be
// written by the limited user.
func TestModelDeniedWritesChangeNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		b    *hb
		want Verdict
	}{
		{"denied then read sees nothing", new(hb).
			ok(1, 0, 1, limited(put("a", "1")), denied).
			ok(1, 2, 3, get("a"), missing(1)), Pass},
		{"a denied write that took effect", new(hb).
			ok(1, 0, 1, limited(put("a", "1")), denied).
			ok(1, 2, 3, get("a"), found(2, kv("a", "1", 2, 2, 1))), Fail},
		{"a limited write acknowledged without a grant", new(hb).
			ok(1, 0, 1, limited(put("a", "1")), wrote(2)), Fail},
		{"a granted write is not denied", new(hb).
			ok(2, 0, 1, grant("a"), Output{Succeeded: true}).
			ok(1, 2, 3, limited(put("a", "1")), denied), Fail},
		{"grant, write, revoke, denied", new(hb).
			ok(2, 0, 1, grant("a"), Output{Succeeded: true}).
			ok(1, 2, 3, limited(put("a", "1")), wrote(2)).
			ok(2, 4, 5, revoke("a"), Output{Succeeded: true}).
			ok(1, 6, 7, limited(del("a")), denied).
			ok(1, 8, 9, limited(get("a")), found(2, kv("a", "1", 2, 2, 1))), Pass},
		{"revoking what was never granted", new(hb).
			ok(2, 0, 1, revoke("a"), Output{Succeeded: true}), Fail},
		{"a write concurrent with its grant may go either way", new(hb).
			ok(2, 0, 10, grant("a"), Output{Succeeded: true}).
			ok(1, 1, 2, limited(put("a", "1")), wrote(2)).
			ok(1, 3, 4, limited(put("a", "2")), wrote(3)), Pass},
		{"an unknown grant may explain a later write", new(hb).
			open(2, 0, grant("a")).
			ok(1, 5, 6, limited(put("a", "1")), wrote(2)), Pass},
		{"reads are never denied", new(hb).
			ok(1, 0, 1, limited(get("a")), denied), Fail},
	} {
		if got := authVerdict(t, c.b); got != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, got, c.want)
		}
	}
}
