package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEtcdFlagsAndKeys(t *testing.T) {
	c, err := fromArgs(t, "--watch-progress-notify-interval=2s", "--auto-compaction-mode=revision",
		"--auto-compaction-retention=1000", "--max-txn-ops=64", "--grpc-keepalive-min-time=1s",
		"--grpc-keepalive-interval=1m", "--grpc-keepalive-timeout=3s", "--enable-pprof",
		"--log-outputs=stdout,stderr", "--listen-metrics-urls=http://127.0.0.1:12381")
	if err != nil {
		t.Fatal(err)
	}
	if c.WatchProgressNotifyInterval != 2*time.Second || c.MaxTxnOps != 64 || !c.EnablePprof ||
		c.GRPCKeepaliveMinTime != time.Second || c.GRPCKeepaliveInterval != time.Minute ||
		c.GRPCKeepaliveTimeout != 3*time.Second || c.LogOutputs.String() != "stdout,stderr" ||
		c.ListenMetricsURLs.String() != "http://127.0.0.1:12381" {
		t.Fatalf("flags not applied: %+v", c)
	}
	if p, r, err := c.AutoCompaction(); p != 0 || r != 1000 || err != nil {
		t.Fatalf("AutoCompaction = %v, %d, %v", p, r, err)
	}

	// The same settings under etcd's YAML keys.
	path := writeFile(t, `
watch-progress-notify-interval: 3s
auto-compaction-mode: periodic
auto-compaction-retention: 30m
max-txn-ops: 100
grpc-keepalive-min-time: 2s
enable-pprof: true
log-outputs: [stderr]
`)
	c, err = fromArgs(t, "--config-file", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.WatchProgressNotifyInterval != 3*time.Second || c.MaxTxnOps != 100 || !c.EnablePprof ||
		c.GRPCKeepaliveMinTime != 2*time.Second {
		t.Fatalf("file not applied: %+v", c)
	}
	if p, _, _ := c.AutoCompaction(); p != 30*time.Minute {
		t.Fatalf("periodic retention %v, want 30m", p)
	}
}

func TestAutoCompactionRetention(t *testing.T) {
	for _, tc := range []struct {
		mode, retention string
		period          time.Duration
		revs            int64
		bad             bool
	}{
		{"periodic", "0", 0, 0, false},
		{"periodic", "1", time.Hour, 0, false}, // a bare number is hours, as etcd
		{"periodic", "0.5", 30 * time.Minute, 0, false},
		{"periodic", "90s", 90 * time.Second, 0, false},
		{"periodic", "-1h", 0, 0, true},
		{"periodic", "soon", 0, 0, true},
		{"revision", "5000", 0, 5000, false},
		{"revision", "5m", 0, 0, true},
		{"daily", "1", 0, 0, true},
	} {
		c := Default()
		c.AutoCompactionMode, c.AutoCompactionRetention = tc.mode, tc.retention
		p, r, err := c.AutoCompaction()
		if (err != nil) != tc.bad || p != tc.period || r != tc.revs {
			t.Errorf("%s %s: got %v, %d, %v", tc.mode, tc.retention, p, r, err)
		}
	}
}

func TestRefusesEtcdOnlySettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wal-dir=/tmp/w"}, "--wal-dir: etcd flag not supported by metastore"},
		{[]string{"--name", "n", "--pre-vote"}, "--pre-vote: etcd flag not supported by metastore"},
		{[]string{"--enable-pprof", "-experimental-foo=1"}, "--experimental-foo: etcd flag not supported by metastore"},
		{[]string{"--max-txn-ops=0"}, "--max-txn-ops"},
		{[]string{"--max-txn-ops=100000"}, "--max-txn-ops"},
		{[]string{"--watch-progress-notify-interval=0s"}, "--watch-progress-notify-interval"},
		{[]string{"--grpc-keepalive-timeout=0s"}, "--grpc-keepalive-timeout"},
		{[]string{"--auto-compaction-mode=daily"}, "--auto-compaction-mode"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--logger=capnslog"}, "--logger"},
	} {
		_, err := fromArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
	// A flag's value that looks like an etcd flag is a value, not a flag.
	if _, err := fromArgs(t, "--auto-compaction-retention", "1", "--log-level", "debug"); err != nil {
		t.Errorf("valid flags refused: %v", err)
	}
	path := writeFile(t, "name: n\nwal-dir: /tmp/w\nexperimental-initial-corrupt-check: true\n")
	_, err := fromArgs(t, "--config-file", path)
	if err == nil || !strings.Contains(err.Error(), "experimental-initial-corrupt-check, wal-dir: etcd setting not supported") {
		t.Errorf("file with etcd-only keys: got %v", err)
	}
}

func TestHelpListsEtcdFlags(t *testing.T) {
	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	if _, err := FromArgs(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"watch-progress-notify-interval", "auto-compaction-mode", "auto-compaction-retention",
		"max-txn-ops", "grpc-keepalive-min-time", "grpc-keepalive-interval", "grpc-keepalive-timeout",
		"enable-pprof", "log-outputs", "logger"} {
		if !strings.Contains(out.String(), "-"+name+" ") && !strings.Contains(out.String(), "-"+name+"\n") {
			t.Errorf("--help does not describe --%s", name)
		}
	}
}

func TestOpenLogOutputs(t *testing.T) {
	c := Default()
	path := filepath.Join(t.TempDir(), "m.log")
	c.LogOutputs = URLs{path}
	w, closer, err := c.OpenLogOutputs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "line\n" {
		t.Fatalf("log file holds %q, %v", b, err)
	}
	c.LogOutputs = URLs{filepath.Join(t.TempDir(), "missing", "m.log")}
	if _, _, err := c.OpenLogOutputs(); err == nil || !strings.Contains(err.Error(), "--log-outputs") {
		t.Fatalf("unwritable output: got %v", err)
	}
}
