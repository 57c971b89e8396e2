package config

import (
	"errors"
	"flag"
	"fmt"
)

// RegisterFlags defines the server's flags on fs, bound to cfg's fields, so
// parsing fs writes into cfg. Names, meanings and defaults follow etcd's.
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Name, "name", cfg.Name,
		"human-readable `name` of this member; must match its entry in --initial-cluster")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir,
		"`directory` for the WAL, snapshots and engine files (default \"${name}.metastore\"; ${name} expands)")

	fs.Var(&cfg.ListenClientURLs, "listen-client-urls",
		"comma-separated `URLs` to serve clients on, e.g. http://0.0.0.0:2379: the etcd v3 gRPC API and, on the\n"+
			"same port, HTTP: /health, /livez, /readyz, /version, /metrics and the JSON gateway under /v3/")
	fs.Var(&cfg.AdvertiseClientURLs, "advertise-client-urls",
		"client `URLs` told to the cluster and to clients; must be reachable, not 0.0.0.0 (default: --listen-client-urls)")
	fs.Var(&cfg.ListenPeerURLs, "listen-peer-urls",
		"comma-separated `URLs` to receive raft traffic from other members on")
	fs.Var(&cfg.InitialAdvertisePeerURLs, "initial-advertise-peer-urls",
		"this member's peer `URLs` as the others reach them; must equal its --initial-cluster entry (default: --listen-peer-urls)")
	fs.Var(&cfg.ListenMetricsURLs, "listen-metrics-urls",
		"extra `URLs` to serve only /metrics, /health, /livez and /readyz on over plain HTTP (default none:\n"+
			"the client URLs serve them too)")

	fs.StringVar(&cfg.InitialCluster, "initial-cluster", cfg.InitialCluster,
		"the members of a new cluster, `name=url,...`; repeat a name for several URLs\n"+
			"(default \"${name}=${initial-advertise-peer-urls}\", i.e. default=http://127.0.0.1:2380)")
	fs.StringVar(&cfg.InitialClusterState, "initial-cluster-state", cfg.InitialClusterState,
		"`state` \"new\" to bootstrap a cluster from --initial-cluster, \"existing\" to join one\n"+
			"(after `etcdctl member add`); ignored once the data dir holds state")
	fs.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", cfg.InitialClusterToken,
		"`token` unique to this cluster; it seeds member IDs, and peers with another token are refused")

	fs.StringVar(&cfg.Engine, "engine", cfg.Engine,
		"storage `engine` for the key-value state: memory (all in RAM, rebuilt from snapshot + WAL at start)\n"+
			"or rocksdb (on disk under <data-dir>/member/rocksdb; holds more than RAM, restarts without replay)")
	fs.Uint64Var(&cfg.RocksDB.BlockCacheBytes, "rocksdb-block-cache-size", cfg.RocksDB.BlockCacheBytes,
		"rocksdb: `bytes` of block cache (data blocks; index and filter blocks stay with the open files)")
	fs.Uint64Var(&cfg.RocksDB.WriteBufferBytes, "rocksdb-write-buffer-size", cfg.RocksDB.WriteBufferBytes,
		"rocksdb: `bytes` per memtable; up to two are in memory at once")
	fs.StringVar(&cfg.RocksDB.Compression, "rocksdb-compression", cfg.RocksDB.Compression,
		"rocksdb: block `compression`: none, snappy, lz4, zstd, or lz4+zstd (zstd for the bottommost level)")
	fs.BoolVar(&cfg.RocksDB.Sync, "rocksdb-sync", cfg.RocksDB.Sync,
		"rocksdb: fsync RocksDB's own WAL on every apply (not needed for safety: the raft WAL is synced\n"+
			"and replays whatever a machine crash takes from RocksDB)")
	fs.IntVar(&cfg.RocksDB.MaxOpenFiles, "rocksdb-max-open-files", cfg.RocksDB.MaxOpenFiles,
		"rocksdb: most SST `files` kept open (-1: unlimited)")
	fs.IntVar(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes,
		"largest client request in `bytes`; bigger puts and txns fail with \"request is too large\"")
	fs.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes,
		"`bytes` of stored data after which writes fail with \"database space exceeded\" until compaction and defrag")
	fs.Uint64Var(&cfg.SnapshotCount, "snapshot-count", cfg.SnapshotCount,
		"applied raft `entries` between snapshots; the log before a snapshot is then compacted")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout,
		"how long a client request may wait for raft before failing with a timeout (`duration`, e.g. 5s)")
	fs.UintVar(&cfg.HeartbeatIntervalMs, "heartbeat-interval", cfg.HeartbeatIntervalMs,
		"leader heartbeat interval in `ms`; also the raft tick. Roughly the round-trip time between members")
	fs.UintVar(&cfg.ElectionTimeoutMs, "election-timeout", cfg.ElectionTimeoutMs,
		"`ms` a follower waits without hearing a leader before it campaigns; at least 5x --heartbeat-interval")

	fs.DurationVar(&cfg.WatchProgressNotifyInterval, "watch-progress-notify-interval", cfg.WatchProgressNotifyInterval,
		"`duration` between progress notifications to idle watchers that asked for them (Kubernetes' watch cache does)")
	fs.StringVar(&cfg.AutoCompactionMode, "auto-compaction-mode", cfg.AutoCompactionMode,
		"`mode` of auto-compaction: periodic (keep --auto-compaction-retention of time) or revision (keep that many revisions)")
	fs.StringVar(&cfg.AutoCompactionRetention, "auto-compaction-retention", cfg.AutoCompactionRetention,
		"`retention` for auto-compaction, 0 for none: a duration (e.g. 30m) or hours (e.g. 1) in periodic mode,\n"+
			"a revision count in revision mode. The leader proposes each compaction through raft")
	fs.UintVar(&cfg.MaxTxnOps, "max-txn-ops", cfg.MaxTxnOps,
		"most compares, or operations per branch, in one txn (`count`); more fail with \"too many operations in txn request\"")
	fs.DurationVar(&cfg.GRPCKeepaliveMinTime, "grpc-keepalive-min-time", cfg.GRPCKeepaliveMinTime,
		"shortest `duration` a client should wait between keepalive pings; clients pinging faster are disconnected")
	fs.DurationVar(&cfg.GRPCKeepaliveInterval, "grpc-keepalive-interval", cfg.GRPCKeepaliveInterval,
		"`duration` of connection inactivity after which the server pings the client to check it is alive")
	fs.DurationVar(&cfg.GRPCKeepaliveTimeout, "grpc-keepalive-timeout", cfg.GRPCKeepaliveTimeout,
		"`duration` the server waits for a keepalive ping's answer before closing the connection")
	fs.BoolVar(&cfg.EnablePprof, "enable-pprof", cfg.EnablePprof,
		"serve Go runtime profiles under /debug/pprof/ on the client URLs")
	fs.BoolVar(&cfg.ExperimentalLeanGRPC, "experimental-lean-grpc", cfg.ExperimentalLeanGRPC,
		"serve plaintext (http://) gRPC clients with MetaStore's own lean HTTP/2 server instead of grpc-go's:\n"+
			"about half the gRPC layer's CPU per request; no message compression (TLS clients keep grpc-go).\n"+
			"On by default; =false serves plaintext clients with grpc-go as well")
	fs.StringVar(&cfg.Logger, "logger", cfg.Logger,
		"`logger` to use: only zap, etcd's only one, accepted so etcd command lines run unchanged (the log format is metastore's own)")
	fs.Var(&cfg.LogOutputs, "log-outputs",
		"comma-separated `outputs` for logs: stderr (also \"default\"), stdout, or a file path (appended to)")

	registerSecurityFlags(fs, cfg)

	fs.StringVar(&cfg.ConfigFile, "config-file", cfg.ConfigFile,
		"YAML `file` with these settings under the same names, plus raft: and grpc: tuning sections.\n"+
			"Flags given explicitly on the command line override the file (unlike etcd, which ignores them)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel,
		"`level` of log output: debug, info, warn or error")
}

// FromArgs builds the configuration from command-line arguments: the
// defaults, then the YAML file named by --config-file if any, then every
// flag given explicitly. It returns the resolved and validated Config.
// fs must be empty; FromArgs defines the flags on it. flag.ErrHelp comes
// back unwrapped when -h or --help was asked for.
func FromArgs(fs *flag.FlagSet, args []string) (*Config, error) {
	cfg := Default()
	RegisterFlags(fs, cfg)
	if err := checkEtcdFlags(fs, args); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if cfg.ConfigFile != "" {
		file, err := Load(cfg.ConfigFile)
		if err != nil {
			return nil, err
		}
		// Re-apply the explicit flags on top of the file's values.
		again := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		RegisterFlags(again, file)
		var errs []error
		fs.Visit(func(f *flag.Flag) {
			if err := again.Set(f.Name, f.Value.String()); err != nil {
				errs = append(errs, err)
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		cfg = file
	}
	cfg.Resolve()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
