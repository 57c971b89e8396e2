package auth

import "testing"

func TestSpansUnionCovers(t *testing.T) {
	u := merge([]span{
		spanOf([]byte("c"), []byte("e")),
		spanOf([]byte("a"), []byte("c")), // adjacent to [c, e): one span [a, e)
		spanOf([]byte("k"), nil),         // the key k alone
		spanOf([]byte("x"), []byte{0}),   // x and everything after
		spanOf([]byte("b"), []byte("d")), // inside [a, e)
	})
	if len(u) != 3 {
		t.Fatalf("merged into %d spans, want 3: %q", len(u), u)
	}
	for _, c := range []struct {
		key, end string
		want     bool
	}{
		{"a", "", true}, {"a", "e", true}, {"a", "e\x00", false}, {"d", "", true}, {"e", "", false},
		{"k", "", true}, {"k", "k\x00", true}, {"k", "l", false}, {"j", "", false},
		{"x", "\x00", true}, {"zzz", "", true}, {"w", "\x00", false}, {"x", "y", true},
	} {
		var end []byte
		if c.end != "" {
			end = []byte(c.end)
		}
		if got := u.covers(spanOf([]byte(c.key), end)); got != c.want {
			t.Errorf("[%q, %q): covers %v, want %v", c.key, c.end, got, c.want)
		}
	}
}

func TestValidPermRange(t *testing.T) {
	for _, c := range []struct {
		key, end string
		want     bool
	}{
		{"a", "", true}, {"a", "\x00", true}, {"a", "b", true}, {"b", "a", false}, {"a", "a", false}, {"", "", false},
	} {
		if got := validPermRange([]byte(c.key), []byte(c.end)); got != c.want {
			t.Errorf("validPermRange(%q, %q) = %v", c.key, c.end, got)
		}
	}
}
