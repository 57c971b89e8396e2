// Package config holds a MetaStore server's configuration: etcd-style
// command-line flags, a YAML file with the same keys (plus the raft and gRPC
// tuning sections), the seed report's defaults, validation, and the derived
// values (member IDs, raft ticks, gRPC server options).
//
// # Usage
//
//	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
//	cfg, err := config.FromArgs(fs, os.Args[1:]) // defaults < --config-file < explicit flags
//
// FromArgs returns a resolved (derived defaults filled in) and validated
// Config. Explicit flags override the YAML file; this differs from etcd,
// which ignores every other flag when --config-file is given.
package config

import (
	"fmt"
	"log/slog"
	"time"

	"gopkg.in/yaml.v3"

	"metastore/engines/rocksdb"
)

// Config is the whole server configuration. YAML keys are etcd's where etcd
// has the setting, so the common part of an etcd config file reads as is.
type Config struct {
	Name    string `yaml:"name"`
	DataDir string `yaml:"data-dir"` // "${name}" expands to Name

	ListenClientURLs         URLs `yaml:"listen-client-urls"`
	AdvertiseClientURLs      URLs `yaml:"advertise-client-urls"` // default: ListenClientURLs
	ListenPeerURLs           URLs `yaml:"listen-peer-urls"`
	InitialAdvertisePeerURLs URLs `yaml:"initial-advertise-peer-urls"` // default: ListenPeerURLs
	ListenMetricsURLs        URLs `yaml:"listen-metrics-urls"`

	// InitialCluster is "name=url,name=url,..." (a name may repeat to give
	// a member several URLs); default: Name=InitialAdvertisePeerURLs.
	InitialCluster      string `yaml:"initial-cluster"`
	InitialClusterState string `yaml:"initial-cluster-state"` // "new" or "existing"
	InitialClusterToken string `yaml:"initial-cluster-token"`

	Engine            string        `yaml:"engine"` // "memory" or "rocksdb"
	MaxRequestBytes   int           `yaml:"max-request-bytes"`
	QuotaBackendBytes int64         `yaml:"quota-backend-bytes"`
	SnapshotCount     uint64        `yaml:"snapshot-count"`
	RequestTimeout    time.Duration `yaml:"request-timeout"`
	// HeartbeatIntervalMs is also the raft tick; ElectionTimeoutMs is
	// rounded down to whole ticks.
	HeartbeatIntervalMs uint   `yaml:"heartbeat-interval"`
	ElectionTimeoutMs   uint   `yaml:"election-timeout"`
	LogLevel            string `yaml:"log-level"` // debug, info, warn, error
	// LogOutputs are where logs go: stderr, stdout or file paths ("default"
	// is stderr, as etcd's outside systemd).
	LogOutputs URLs `yaml:"log-outputs"`
	// Logger is etcd's --logger, whose only value is "zap"; accepted so
	// etcd command lines (its Procfile) run unchanged.
	Logger string `yaml:"logger"`

	// WatchProgressNotifyInterval is how often idle watchers that asked for
	// progress notifications get one.
	WatchProgressNotifyInterval time.Duration `yaml:"watch-progress-notify-interval"`
	// AutoCompactionMode is "periodic" (retention is a duration, or hours
	// when a bare number) or "revision" (retention is a revision count).
	AutoCompactionMode      string `yaml:"auto-compaction-mode"`
	AutoCompactionRetention string `yaml:"auto-compaction-retention"` // "0": off
	// MaxTxnOps bounds a txn's compares, and ops per branch.
	MaxTxnOps uint `yaml:"max-txn-ops"`
	// GRPCKeepaliveMinTime is the shortest ping interval accepted from
	// clients; the server pings an idle connection every
	// GRPCKeepaliveInterval and closes it when no answer comes within
	// GRPCKeepaliveTimeout.
	GRPCKeepaliveMinTime  time.Duration `yaml:"grpc-keepalive-min-time"`
	GRPCKeepaliveInterval time.Duration `yaml:"grpc-keepalive-interval"`
	GRPCKeepaliveTimeout  time.Duration `yaml:"grpc-keepalive-timeout"`
	// EnablePprof serves /debug/pprof/ on the client URLs.
	EnablePprof bool `yaml:"enable-pprof"`
	// ExperimentalLeanGRPC serves plaintext gRPC clients with net/leangrpc
	// instead of grpc-go (TLS clients stay on grpc-go). On by default: it
	// halves the gRPC layer's CPU per request; false falls back to grpc-go.
	ExperimentalLeanGRPC bool `yaml:"experimental-lean-grpc"`

	// TLS and authentication (security.go).
	ClientTransportSecurity SecurityConfig `yaml:"client-transport-security"`
	PeerTransportSecurity   SecurityConfig `yaml:"peer-transport-security"`
	CipherSuites            []string       `yaml:"cipher-suites"`
	TLSMinVersion           string         `yaml:"tls-min-version"`
	TLSMaxVersion           string         `yaml:"tls-max-version"`
	AuthToken               string         `yaml:"auth-token"`
	AuthTokenTTL            uint           `yaml:"auth-token-ttl"` // seconds
	BcryptCost              int            `yaml:"bcrypt-cost"`

	Raft    RaftConfig    `yaml:"raft"`
	GRPC    GRPCConfig    `yaml:"grpc"`
	RocksDB RocksDBConfig `yaml:"rocksdb"`

	// ConfigFile is the YAML file the configuration was read from, if any.
	ConfigFile string `yaml:"-"`
}

// RaftConfig is raft tuning beyond the tick settings (YAML "raft:" only).
type RaftConfig struct {
	MaxSizePerMsg             uint64 `yaml:"max-size-per-msg"`
	MaxInflightMsgs           int    `yaml:"max-inflight-msgs"`
	MaxUncommittedEntriesSize uint64 `yaml:"max-uncommitted-entries-size"`
	// CatchUpEntries stay in the log after a snapshot for slow followers.
	CatchUpEntries uint64 `yaml:"catch-up-entries"`
	// LogBytes bounds the raft log held in memory: a snapshot is also due
	// once the entries since the last one hold this many bytes, and at
	// most this many bytes of catch-up entries stay behind it.
	LogBytes uint64 `yaml:"log-bytes"`
}

// RocksDBConfig tunes the rocksdb engine (YAML "rocksdb:" or the
// --rocksdb-* flags); zero fields take engines/rocksdb's defaults.
type RocksDBConfig struct {
	BlockCacheBytes  uint64 `yaml:"block-cache-bytes"`
	WriteBufferBytes uint64 `yaml:"write-buffer-bytes"`
	Compression      string `yaml:"compression"` // none, snappy, lz4, zstd, lz4+zstd
	// Sync fsyncs RocksDB's own WAL on every apply batch. Off: the raft
	// WAL is synced and replays what a machine crash took from RocksDB.
	Sync         bool `yaml:"sync"`
	MaxOpenFiles int  `yaml:"max-open-files"`
}

// Options are the engine options these settings give.
func (r RocksDBConfig) Options() rocksdb.Options {
	return rocksdb.Options{
		BlockCacheBytes:  r.BlockCacheBytes,
		WriteBufferBytes: r.WriteBufferBytes,
		Compression:      r.Compression,
		Sync:             r.Sync,
		MaxOpenFiles:     r.MaxOpenFiles,
	}
}

// GRPCConfig tunes the client-facing gRPC server (YAML "grpc:" only).
type GRPCConfig struct {
	MaxRecvMsgSize        int           `yaml:"max-recv-msg-size"`
	MaxSendMsgSize        int           `yaml:"max-send-msg-size"`
	MaxConcurrentStreams  uint32        `yaml:"max-concurrent-streams"`
	InitialWindowSize     int32         `yaml:"initial-window-size"`
	InitialConnWindowSize int32         `yaml:"initial-conn-window-size"`
	MaxConnectionIdle     time.Duration `yaml:"max-connection-idle"`
	// MaxConnectionAge 0 means connections are never aged out.
	MaxConnectionAge      time.Duration `yaml:"max-connection-age"`
	MaxConnectionAgeGrace time.Duration `yaml:"max-connection-age-grace"`
}

// Sizes used by the defaults.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// Default returns the defaults: etcd's for the flags, the seed report's for
// raft and gRPC tuning. Derived fields (DataDir, AdvertiseClientURLs,
// InitialAdvertisePeerURLs, InitialCluster) stay empty until Resolve.
func Default() *Config {
	return &Config{
		Name:                 "default",
		ListenClientURLs:     URLs{"http://127.0.0.1:2379"},
		ListenPeerURLs:       URLs{"http://127.0.0.1:2380"},
		InitialClusterState:  "new",
		InitialClusterToken:  "metastore-cluster",
		Engine:               "memory",
		MaxRequestBytes:      1.5 * MiB,
		QuotaBackendBytes:    2 * GiB,
		SnapshotCount:        10000,
		ExperimentalLeanGRPC: true,
		RequestTimeout:       5 * time.Second,
		HeartbeatIntervalMs:  100,
		ElectionTimeoutMs:    1000,
		LogLevel:             "info",
		AuthToken:            "simple",
		AuthTokenTTL:         300,
		BcryptCost:           10,
		LogOutputs:           URLs{"default"},
		Logger:               "zap",

		WatchProgressNotifyInterval: 10 * time.Minute,
		AutoCompactionMode:          "periodic",
		AutoCompactionRetention:     "0",
		MaxTxnOps:                   128,
		GRPCKeepaliveMinTime:        5 * time.Second,
		GRPCKeepaliveInterval:       2 * time.Hour,
		GRPCKeepaliveTimeout:        20 * time.Second,

		Raft: RaftConfig{
			MaxSizePerMsg:             4 * MiB,
			MaxInflightMsgs:           512,
			MaxUncommittedEntriesSize: 1 * GiB,
			CatchUpEntries:            5000,
			LogBytes:                  64 * MiB,
		},
		GRPC: GRPCConfig{
			MaxRecvMsgSize:        4 * MiB,
			MaxSendMsgSize:        4 * MiB,
			MaxConcurrentStreams:  2048,
			InitialWindowSize:     8 * MiB,
			InitialConnWindowSize: 16 * MiB,
			MaxConnectionIdle:     300 * time.Second,
			MaxConnectionAgeGrace: 10 * time.Second,
		},
		RocksDB: RocksDBConfig{
			BlockCacheBytes:  128 * MiB,
			WriteBufferBytes: 64 * MiB,
			Compression:      "lz4",
			MaxOpenFiles:     1024,
		},
	}
}

// TickInterval is the raft tick: one heartbeat interval.
func (c *Config) TickInterval() time.Duration {
	return time.Duration(c.HeartbeatIntervalMs) * time.Millisecond
}

// HeartbeatTicks is always 1: the tick is the heartbeat interval.
func (c *Config) HeartbeatTicks() int { return 1 }

// ElectionTicks is the election timeout in ticks, rounded down.
func (c *Config) ElectionTicks() int {
	if c.HeartbeatIntervalMs == 0 {
		return 0
	}
	return int(c.ElectionTimeoutMs / c.HeartbeatIntervalMs)
}

// SlogLevel maps LogLevel to a log/slog level (info when unknown).
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// YAML renders the configuration in the file format Load reads.
func (c *Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}
