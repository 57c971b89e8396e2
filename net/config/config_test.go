package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fromArgs(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return FromArgs(fs, args)
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "metastore.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsResolveLikeEtcd(t *testing.T) {
	c, err := fromArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", c.Name, "default"},
		{"data-dir", c.DataDir, "default.metastore"},
		{"initial-cluster", c.InitialCluster, "default=http://127.0.0.1:2380"},
		{"advertise-client-urls", c.AdvertiseClientURLs.String(), "http://127.0.0.1:2379"},
		{"initial-advertise-peer-urls", c.InitialAdvertisePeerURLs.String(), "http://127.0.0.1:2380"},
		{"max-request-bytes", c.MaxRequestBytes, 1572864},
		{"quota-backend-bytes", c.QuotaBackendBytes, int64(2 << 30)},
		{"snapshot-count", c.SnapshotCount, uint64(10000)},
		{"request-timeout", c.RequestTimeout, 5 * time.Second},
		{"tick", c.TickInterval(), 100 * time.Millisecond},
		{"election ticks", c.ElectionTicks(), 10},
		{"heartbeat ticks", c.HeartbeatTicks(), 1},
		{"max-size-per-msg", c.Raft.MaxSizePerMsg, uint64(4 << 20)},
		{"max-inflight-msgs", c.Raft.MaxInflightMsgs, 512},
		{"max-uncommitted", c.Raft.MaxUncommittedEntriesSize, uint64(1 << 30)},
		{"grpc max recv", c.GRPC.MaxRecvMsgSize, 4 << 20},
		{"grpc streams", c.GRPC.MaxConcurrentStreams, uint32(2048)},
		{"grpc-keepalive-min-time", c.GRPCKeepaliveMinTime, 5 * time.Second},
		{"grpc-keepalive-interval", c.GRPCKeepaliveInterval, 2 * time.Hour},
		{"grpc-keepalive-timeout", c.GRPCKeepaliveTimeout, 20 * time.Second},
		{"listen-metrics-urls", c.ListenMetricsURLs.String(), ""},
		{"watch-progress-notify-interval", c.WatchProgressNotifyInterval, 10 * time.Minute},
		{"auto-compaction-mode", c.AutoCompactionMode, "periodic"},
		{"auto-compaction-retention", c.AutoCompactionRetention, "0"},
		{"max-txn-ops", c.MaxTxnOps, uint(128)},
		{"enable-pprof", c.EnablePprof, false},
		{"experimental-lean-grpc", c.ExperimentalLeanGRPC, true},
		{"log-outputs", c.LogOutputs.String(), "default"},
		{"grpc idle", c.GRPC.MaxConnectionIdle, 300 * time.Second},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if len(c.GRPCServerOptions()) == 0 {
		t.Error("no gRPC server options")
	}
}

func TestNameDrivesDerivedDefaults(t *testing.T) {
	c, err := fromArgs(t, "--name=n1", "--listen-peer-urls=http://10.0.0.1:2380")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "n1.metastore" || c.InitialCluster != "n1=http://10.0.0.1:2380" {
		t.Fatalf("data-dir %q, initial-cluster %q", c.DataDir, c.InitialCluster)
	}
	if c.MemberID() != MemberID("n1", []string{"http://10.0.0.1:2380"}, "metastore-cluster") {
		t.Fatal("MemberID disagrees with the cluster's derivation")
	}
}

func TestParseInitialCluster(t *testing.T) {
	ms, err := ParseInitialCluster("a=http://h1:2380, b=http://h2:2380,a=http://h1b:2380", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" {
		t.Fatalf("members %+v", ms)
	}
	if got := strings.Join(ms[0].PeerURLs, ","); got != "http://h1:2380,http://h1b:2380" {
		t.Fatalf("a's URLs %s", got)
	}
	if ms[0].ID == ms[1].ID || ms[0].ID == 0 {
		t.Fatalf("IDs %x %x", ms[0].ID, ms[1].ID)
	}
	for _, bad := range []string{"", "a", "=http://h:1", "a="} {
		if _, err := ParseInitialCluster(bad, "tok"); err == nil {
			t.Errorf("ParseInitialCluster(%q) accepted", bad)
		}
	}
}

// pinnedDefaultID is MemberID("default", ["http://127.0.0.1:2380"],
// "metastore-cluster"), checked against sha256sum by hand. Changing it
// changes every cluster's member IDs.
const pinnedDefaultID = 0x2ab6707c5dabac15

func TestMemberIDIsDeterministicAndTokenScoped(t *testing.T) {
	urls := []string{"http://b:2380", "http://a:2380"}
	id := MemberID("n", urls, "t1")
	if id != MemberID("n", []string{"http://a:2380", "http://b:2380"}, "t1") {
		t.Error("URL order changed the ID")
	}
	if id == MemberID("n", urls, "t2") || id == MemberID("m", urls, "t1") {
		t.Error("token or name did not change the ID")
	}
	// Pinned: the derivation is part of the on-disk identity of a cluster.
	if got := MemberID("default", []string{"http://127.0.0.1:2380"}, "metastore-cluster"); got != pinnedDefaultID {
		t.Errorf("MemberID(default) = %#x, want %#x", got, pinnedDefaultID)
	}
	if ClusterID([]uint64{3, 1, 2}) != ClusterID([]uint64{1, 2, 3}) || ClusterID([]uint64{1}) == ClusterID([]uint64{2}) {
		t.Error("ClusterID must depend on the set of IDs only")
	}
}

func TestYAMLOverridesDefaultsAndFlagsOverrideYAML(t *testing.T) {
	path := writeFile(t, `
name: n2
listen-peer-urls: http://127.0.0.1:12380
initial-cluster: n1=http://127.0.0.1:2380,n2=http://127.0.0.1:12380
snapshot-count: 500
request-timeout: 2s
listen-client-urls:
  - http://127.0.0.1:12379
  - http://127.0.0.1:22379
raft:
  max-inflight-msgs: 64
grpc-keepalive-interval: 30s
engine: rocksdb
rocksdb:
  block-cache-bytes: 33554432
  compression: zstd
`)
	c, err := fromArgs(t, "--config-file", path, "--snapshot-count=7", "--rocksdb-sync")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "n2" || c.RequestTimeout != 2*time.Second || c.Raft.MaxInflightMsgs != 64 ||
		c.GRPCKeepaliveInterval != 30*time.Second || len(c.ListenClientURLs) != 2 {
		t.Fatalf("file values not applied: %+v", c)
	}
	if c.SnapshotCount != 7 {
		t.Fatalf("snapshot-count %d: the explicit flag must win over the file", c.SnapshotCount)
	}
	if o := c.RocksDB.Options(); c.Engine != "rocksdb" || o.BlockCacheBytes != 32<<20 || o.Compression != "zstd" || !o.Sync ||
		o.WriteBufferBytes != 64<<20 || o.MaxOpenFiles != 1024 {
		t.Fatalf("rocksdb settings from file, flag and defaults: engine %q, %+v", c.Engine, o)
	}
	if c.Raft.MaxSizePerMsg != 4<<20 || c.ElectionTimeoutMs != 1000 {
		t.Fatal("keys absent from the file lost their defaults")
	}
	if c.ConfigFile != path {
		t.Fatalf("ConfigFile %q", c.ConfigFile)
	}
	// The printed config reads back to the same values.
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(writeFile(t, string(b)))
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, b)
	}
	if again.SnapshotCount != 7 || again.RequestTimeout != 2*time.Second || again.ListenClientURLs.String() != c.ListenClientURLs.String() {
		t.Fatalf("round trip lost values:\n%s", b)
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	if _, err := Load(writeFile(t, "snapshot-cuont: 5\n")); err == nil || !strings.Contains(err.Error(), "snapshot-cuont") {
		t.Fatalf("got %v, want an error naming the unknown key", err)
	}
	if _, err := Load(writeFile(t, "")); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--engine=rocksdb", "--rocksdb-compression=brotli"}, "brotli"},
		{[]string{"--engine=rocksdb", "--rocksdb-max-open-files=-2"}, "max-open-files"},
		{[]string{"--engine=bolt"}, "--engine"},
		{[]string{"--initial-cluster-state=old"}, "--initial-cluster-state"},
		{[]string{"--initial-cluster=a=http://127.0.0.1:2380"}, `no entry for --name="default"`},
		{[]string{"--initial-cluster=default=http://127.0.0.1:9999"}, "--initial-advertise-peer-urls"},
		{[]string{"--initial-cluster=default=http://127.0.0.1:2380,b=http://127.0.0.1:2380"}, "given to both"},
		{[]string{"--listen-client-urls=http://0.0.0.0:2379"}, "--advertise-client-urls"},
		{[]string{"--listen-peer-urls=https://127.0.0.1:2380"}, "--peer-cert-file"},
		{[]string{"--listen-client-urls=https://127.0.0.1:2379"}, "--auto-tls"},
		{[]string{"--peer-client-cert-auth"}, "--peer-trusted-ca-file"},
		{[]string{"--cert-file=a.crt"}, "--key-file"},
		{[]string{"--tls-min-version=TLS1.1"}, "--tls-min-version"},
		{[]string{"--cipher-suites=TLS_FAKE"}, "TLS_FAKE"},
		{[]string{"--bcrypt-cost=2"}, "--bcrypt-cost"},
		{[]string{"--auth-token=magic"}, "--auth-token"},
		{[]string{"--listen-client-urls=127.0.0.1:2379"}, "--listen-client-urls"},
		{[]string{"--election-timeout=300"}, "at least 5x"},
		{[]string{"--max-request-bytes=8388608"}, "grpc.max-recv-msg-size"},
		{[]string{"--log-level=loud"}, "--log-level"},
		{[]string{"--snapshot-count=0"}, "--snapshot-count"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		_, err := fromArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
	if _, err := fromArgs(t, "--engine=rocksdb", "--rocksdb-compression=zstd", "--rocksdb-sync"); err != nil {
		t.Errorf("valid rocksdb settings rejected: %v", err)
	}
	// A listener on all interfaces is fine when a reachable address is advertised.
	if _, err := fromArgs(t, "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://10.1.1.1:2379"); err != nil {
		t.Errorf("valid wildcard listener rejected: %v", err)
	}
}

func TestHelp(t *testing.T) {
	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	if _, err := FromArgs(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
		"initial-advertise-peer-urls", "initial-cluster", "initial-cluster-state", "initial-cluster-token", "engine",
		"listen-metrics-urls", "max-request-bytes", "quota-backend-bytes", "snapshot-count", "request-timeout",
		"heartbeat-interval", "election-timeout", "config-file", "log-level"} {
		if !strings.Contains(out.String(), "-"+name+" ") {
			t.Errorf("--help does not describe --%s", name)
		}
	}
	if !strings.Contains(out.String(), "override the file") {
		t.Error("--help does not explain flag/file precedence")
	}
}
