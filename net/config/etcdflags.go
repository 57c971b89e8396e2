package config

import (
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// etcdOnly are etcd 3.7's server flags (and YAML keys) that MetaStore does
// not implement. Naming them in the error tells an operator moving from
// etcd that the setting was understood and is unsupported, rather than
// misspelt; either way nothing is silently ignored. A name here that a
// later change implements is simply found on the FlagSet first.
var etcdOnly = []string{
	"auth-token", "auth-token-ttl", "auto-tls", "backend-batch-interval", "backend-batch-limit",
	"backend-bbolt-freelist-type", "bcrypt-cost", "bootstrap-defrag-threshold-megabytes",
	"cert-file", "cipher-suites", "client-cert-allowed-hostname", "client-cert-auth",
	"client-cert-file", "client-crl-file", "client-key-file", "compact-hash-check-time",
	"compaction-batch-limit", "compaction-sleep-interval", "corrupt-check-time", "cors",
	"discovery-cacert", "discovery-cert", "discovery-dial-timeout", "discovery-endpoints",
	"discovery-fallback", "discovery-insecure-skip-tls-verify", "discovery-insecure-transport",
	"discovery-keepalive-time", "discovery-keepalive-timeout", "discovery-key",
	"discovery-password", "discovery-request-timeout", "discovery-srv", "discovery-srv-name",
	"discovery-token", "discovery-user", "distributed-tracing-address",
	"distributed-tracing-instance-id", "distributed-tracing-sampling-rate",
	"distributed-tracing-service-name", "downgrade-check-time", "enable-distributed-tracing",
	"enable-grpc-gateway", "enable-log-rotation", "feature-gates", "force-new-cluster",
	"host-whitelist", "initial-election-tick-advance", "key-file", "listen-client-http-urls",
	"log-format", "log-rotation-config-json", "max-concurrent-streams",
	"max-learners", "max-snapshots", "max-wals", "memory-mlock", "metrics", "peer-auto-tls",
	"peer-cert-allowed-cn", "peer-cert-allowed-hostname", "peer-cert-file",
	"peer-client-cert-auth", "peer-client-cert-file", "peer-client-key-file", "peer-crl-file",
	"peer-key-file", "peer-skip-client-san-verification", "peer-trusted-ca-file", "pre-vote",
	"raft-read-timeout", "raft-write-timeout", "self-signed-cert-validity",
	"snapshot-catchup-entries", "socket-reuse-address", "socket-reuse-port",
	"strict-reconfig-check", "tls-max-version", "tls-min-version", "trusted-ca-file",
	"unsafe-no-fsync", "v2-deprecation", "version", "wal-dir", "warning-apply-duration",
	"warning-unary-request-duration",
}

// isEtcdOnly reports whether name is an etcd setting MetaStore lacks;
// etcd's experimental-* flags (renamed or removed by 3.7) count too.
func isEtcdOnly(name string) bool {
	return slices.Contains(etcdOnly, name) || strings.HasPrefix(name, "experimental-")
}

// checkEtcdFlags walks args as flag.Parse will and refuses the first flag
// that fs does not define but etcd does, naming it. Other unknown flags are
// left to Parse's own error.
func checkEtcdFlags(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return nil // flag.Parse stops here too
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(name)
		if f == nil {
			if isEtcdOnly(name) {
				return fmt.Errorf("--%s: etcd flag not supported by metastore", name)
			}
			return nil
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if !hasValue {
			i++ // the next argument is this flag's value
		}
	}
	return nil
}

// checkEtcdKeys refuses top-level YAML keys that Config lacks but etcd's
// configuration file has, naming each.
func checkEtcdKeys(keys []string) error {
	known := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		known[name] = true
	}
	var bad []string
	for _, k := range keys {
		if !known[k] && isEtcdOnly(k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: etcd setting not supported by metastore", strings.Join(bad, ", "))
	}
	return nil
}
