package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"metastore/core/mvcc"
)

// Resolve fills the derived defaults: DataDir from Name (and expands
// "${name}" in it), advertised URLs from the listen URLs, and
// InitialCluster from Name and InitialAdvertisePeerURLs. Set fields are kept.
func (c *Config) Resolve() {
	if c.DataDir == "" {
		c.DataDir = "${name}.metastore"
	}
	c.DataDir = strings.ReplaceAll(c.DataDir, "${name}", c.Name)
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = slices.Clone(c.ListenClientURLs)
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		c.InitialAdvertisePeerURLs = slices.Clone(c.ListenPeerURLs)
	}
	if c.InitialCluster == "" {
		parts := make([]string, len(c.InitialAdvertisePeerURLs))
		for i, u := range c.InitialAdvertisePeerURLs {
			parts[i] = c.Name + "=" + u
		}
		c.InitialCluster = strings.Join(parts, ",")
	}
}

// ErrNotBuilt is wrapped by Validate for settings whose implementation does
// not exist yet.
var ErrNotBuilt = errors.New("not built yet")

// Validate checks a resolved Config and reports every problem at once, each
// naming the flag or YAML key to fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Name == "" {
		bad("--name must not be empty")
	}
	switch c.Engine {
	case "memory":
	case "rocksdb":
		if err := c.RocksDB.Options().Validate(); err != nil {
			bad("--rocksdb-* / rocksdb: %v", err)
		}
	default:
		bad("--engine=%q: want memory or rocksdb", c.Engine)
	}
	errs = append(errs, checkURLs("--listen-client-urls", c.ListenClientURLs, false, true))
	errs = append(errs, checkURLs("--advertise-client-urls", c.AdvertiseClientURLs, true, true))
	errs = append(errs, checkURLs("--listen-peer-urls", c.ListenPeerURLs, false, true))
	errs = append(errs, checkURLs("--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs, true, true))
	errs = append(errs, checkURLs("--listen-metrics-urls", c.ListenMetricsURLs, false, false))
	errs = append(errs, c.checkCluster())
	errs = append(errs, c.validateSecurity()...)

	if c.MaxRequestBytes <= 0 {
		bad("--max-request-bytes must be positive")
	}
	if c.MaxRequestBytes > c.GRPC.MaxRecvMsgSize {
		bad("--max-request-bytes (%d) exceeds grpc.max-recv-msg-size (%d): such requests could never arrive",
			c.MaxRequestBytes, c.GRPC.MaxRecvMsgSize)
	}
	if uint64(c.MaxRequestBytes) > c.Raft.MaxSizePerMsg {
		bad("--max-request-bytes (%d) exceeds raft.max-size-per-msg (%d)", c.MaxRequestBytes, c.Raft.MaxSizePerMsg)
	}
	if c.QuotaBackendBytes <= 0 {
		bad("--quota-backend-bytes must be positive")
	}
	if c.SnapshotCount == 0 {
		bad("--snapshot-count must be positive")
	}
	if c.RequestTimeout <= 0 {
		bad("--request-timeout must be positive")
	}
	if c.HeartbeatIntervalMs == 0 {
		bad("--heartbeat-interval must be positive")
	} else if c.ElectionTimeoutMs < 5*c.HeartbeatIntervalMs {
		bad("--election-timeout (%d ms) must be at least 5x --heartbeat-interval (%d ms)",
			c.ElectionTimeoutMs, c.HeartbeatIntervalMs)
	}
	if c.ElectionTimeoutMs > 50000 {
		bad("--election-timeout (%d ms) must be at most 50000 ms", c.ElectionTimeoutMs)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("--log-level=%q: want debug, info, warn or error", c.LogLevel)
	}

	r := c.Raft
	if r.MaxSizePerMsg == 0 || r.MaxInflightMsgs <= 0 || r.MaxUncommittedEntriesSize == 0 {
		bad("raft.max-size-per-msg, raft.max-inflight-msgs and raft.max-uncommitted-entries-size must be positive")
	}
	g := c.GRPC
	if g.MaxRecvMsgSize <= 0 || g.MaxSendMsgSize <= 0 || g.MaxConcurrentStreams == 0 ||
		g.InitialWindowSize <= 0 || g.InitialConnWindowSize <= 0 {
		bad("grpc message sizes, max-concurrent-streams and window sizes must be positive")
	}
	if c.GRPCKeepaliveMinTime <= 0 || c.GRPCKeepaliveInterval <= 0 || c.GRPCKeepaliveTimeout <= 0 {
		bad("--grpc-keepalive-min-time, --grpc-keepalive-interval and --grpc-keepalive-timeout must be positive")
	}
	if c.WatchProgressNotifyInterval <= 0 {
		bad("--watch-progress-notify-interval must be positive")
	}
	if _, _, err := c.AutoCompaction(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxTxnOps == 0 || c.MaxTxnOps > mvcc.TxnOpsCeiling {
		bad("--max-txn-ops=%d: want 1 to %d", c.MaxTxnOps, mvcc.TxnOpsCeiling)
	}
	if c.Logger != "zap" {
		bad("--logger=%q: etcd's only logger is zap", c.Logger)
	}
	if len(c.LogOutputs) == 0 {
		bad("--log-outputs must name at least one output (stderr, stdout or a file)")
	}
	return errors.Join(errs...)
}

// checkCluster checks --initial-cluster and this member's place in it.
func (c *Config) checkCluster() error {
	switch c.InitialClusterState {
	case "new", "existing":
	default:
		return fmt.Errorf("--initial-cluster-state=%q: want new or existing", c.InitialClusterState)
	}
	if c.InitialClusterToken == "" {
		return fmt.Errorf("--initial-cluster-token must not be empty")
	}
	members, err := c.Members()
	if err != nil {
		return fmt.Errorf("--initial-cluster: %w", err)
	}
	owner := map[string]string{}
	var self *Member
	for i, m := range members {
		if err := checkURLs("--initial-cluster member "+m.Name, m.PeerURLs, true, true); err != nil {
			return err
		}
		for _, u := range m.PeerURLs {
			if o, dup := owner[u]; dup && o != m.Name {
				return fmt.Errorf("--initial-cluster: %s is given to both %s and %s", u, o, m.Name)
			}
			owner[u] = m.Name
		}
		if m.Name == c.Name {
			self = &members[i]
		}
	}
	if self == nil {
		return fmt.Errorf("--initial-cluster has no entry for --name=%q (it lists %s)", c.Name, names(members))
	}
	want, got := slices.Sorted(slices.Values(self.PeerURLs)), slices.Sorted(slices.Values(c.InitialAdvertisePeerURLs))
	if !slices.Equal(want, got) {
		return fmt.Errorf("--initial-cluster gives %s the peer URLs %v but --initial-advertise-peer-urls is %v",
			c.Name, want, got)
	}
	return nil
}

func names(ms []Member) string {
	n := make([]string, len(ms))
	for i, m := range ms {
		n[i] = m.Name
	}
	return strings.Join(n, ", ")
}

// checkURLs checks that every URL is http://host:port. advertised URLs must
// name a reachable host, not 0.0.0.0 or ::; required lists must not be empty.
func checkURLs(flagName string, urls []string, advertised, required bool) error {
	if required && len(urls) == 0 {
		return fmt.Errorf("%s must list at least one URL", flagName)
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%s: %q: %v", flagName, s, err)
		}
		switch u.Scheme {
		case "http", "https":
		default:
			return fmt.Errorf("%s: %q: want http://host:port or https://host:port", flagName, s)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || port == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%s: %q: want http://host:port", flagName, s)
		}
		if ip := net.ParseIP(host); advertised && (host == "" || (ip != nil && ip.IsUnspecified())) {
			return fmt.Errorf("%s: %q: an advertised URL must name a reachable host, not %q", flagName, s, host)
		}
	}
	return nil
}

// AutoCompaction parses --auto-compaction-mode and --auto-compaction-retention
// as etcd does: in periodic mode the retention is a duration ("30m"), or
// hours when it is a bare number ("1" is one hour); in revision mode it is
// the number of revisions to keep. Zero disables auto-compaction.
func (c *Config) AutoCompaction() (period time.Duration, revisions int64, err error) {
	r := strings.TrimSpace(c.AutoCompactionRetention)
	if r == "" {
		r = "0"
	}
	switch c.AutoCompactionMode {
	case "periodic":
		if h, perr := strconv.ParseFloat(r, 64); perr == nil {
			period = time.Duration(h * float64(time.Hour))
		} else if period, err = time.ParseDuration(r); err != nil {
			return 0, 0, fmt.Errorf("--auto-compaction-retention=%q: want a duration (e.g. 30m) or hours", r)
		}
		if period < 0 {
			return 0, 0, fmt.Errorf("--auto-compaction-retention=%q must not be negative", r)
		}
		return period, 0, nil
	case "revision":
		revisions, err = strconv.ParseInt(r, 10, 64)
		if err != nil || revisions < 0 {
			return 0, 0, fmt.Errorf("--auto-compaction-retention=%q: want a revision count in revision mode", r)
		}
		return 0, revisions, nil
	}
	return 0, 0, fmt.Errorf("--auto-compaction-mode=%q: want periodic or revision", c.AutoCompactionMode)
}
