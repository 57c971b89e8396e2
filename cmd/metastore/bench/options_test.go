package bench

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseWorkloadBeforeOrAfterFlags(t *testing.T) {
	for _, args := range [][]string{
		{"range", "--endpoints=a:1, b:2", "--clients=50", "--conns=5", "--consistency=s", "--total=0", "--duration=3s", "--rate=100.5"},
		{"--endpoints=a:1,b:2", "--clients=50", "--conns=5", "range", "--consistency=s", "--total=0", "--duration=3s", "--rate=100.5"},
	} {
		o, err := Parse(args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if o.Workload != "range" || !slices.Equal(o.Endpoints, []string{"a:1", "b:2"}) || o.Clients != 50 || o.Conns != 5 ||
			o.Consistency != "s" || o.Total != 0 || o.Duration != 3*time.Second || o.Rate != 100.5 {
			t.Errorf("%q parsed as %+v", args, o)
		}
	}
}

// TestParseDefaults pins the defaults shared with etcd's benchmark tool.
func TestParseDefaults(t *testing.T) {
	o, err := Parse([]string{"put"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Total != 10000 || o.KeySize != 8 || o.ValSize != 8 || o.KeySpaceSize != 1 || o.Clients != 1 || o.Conns != 1 ||
		!slices.Equal(o.Endpoints, []string{"127.0.0.1:2379"}) || o.Consistency != "l" || o.SequentialKeys || o.JSON {
		t.Errorf("defaults: %+v", o)
	}
}

func TestParseRejects(t *testing.T) {
	for args, want := range map[string]string{
		"":                "no workload",
		"delete":          `unknown workload "delete"`,
		"put --total=0":   "must end by itself",
		"put --clients=0": "at least 1",
		"put --key-size=3 --key-space-size=10000": "cannot spell 10000 distinct keys",
		"range --consistency=x":                   `--consistency="x"`,
		"put --rate=-1":                           "--rate",
		"put extra":                               "unexpected arguments",
		"put --endpoints=,":                       "--endpoints is empty",
		"put --progress=sometimes":                "--progress",
	} {
		_, err := Parse(strings.Fields(args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want it to mention %q", args, err, want)
		}
	}
}

func TestHelpListsWorkloads(t *testing.T) {
	var out strings.Builder
	if _, err := Parse([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, wl := range workloads {
		if !strings.Contains(out.String(), "  "+wl.name+" ") {
			t.Errorf("--help lacks workload %s:\n%s", wl.name, out.String())
		}
	}
	for _, f := range []string{"-endpoints", "-key-space-size", "-sequential-keys", "-json", "-duration"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help lacks %s", f)
		}
	}
}

func TestFillKey(t *testing.T) {
	k := make([]byte, 6)
	fillKey(k, 4217)
	if string(k) != "004217" {
		t.Errorf("fillKey = %q", k)
	}
}
