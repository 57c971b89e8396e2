// Command metastore is the MetaStore server: an etcd-v3-compatible
// key-value store replicated with raft. Run `metastore --help` for flags.
// `metastore bench` is its load generator (package bench), a sub-command
// rather than a second binary so that every host running the server also
// has the tool to measure it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"metastore/cmd/metastore/bench"
	"metastore/net/config"
)

const usageHeader = `metastore — an etcd v3 compatible key-value store, replicated with raft.

Usage:
  metastore [flags]                 serve: run a member (the flags below)
  metastore bench WORKLOAD [flags]  load an etcd v3 server and report its speed
                                    (workloads and flags: metastore bench --help)
  metastore snapshot restore|status FILE ...
                                    restore a backup saved by 'etcdctl snapshot save', or inspect it

A single member on 127.0.0.1 needs no flags. A three-member cluster, on each host:
  metastore --name=m1 --initial-cluster=m1=http://h1:2380,m2=http://h2:2380,m3=http://h3:2380 \
    --listen-peer-urls=http://h1:2380 --listen-client-urls=http://h1:2379 \
    --initial-cluster-token=prod-1

Each client URL serves the etcd v3 gRPC API and, on the same port, etcd's HTTP endpoints:
/health, /livez, /readyz, /version, /metrics and the JSON gateway (/v3/kv/range, /v3/watch, ...).
etcd flags that metastore does not implement are refused by name, never ignored.

Settings come from the defaults, then --config-file (YAML, same names as the flags), then
the flags given on the command line, which win. The resolved configuration is printed at start.

Flags:
`

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

// mainErr parses args, prints the resolved configuration to stdout and runs
// the server, or runs a sub-command (bench, snapshot); it returns the
// process exit code.
func mainErr(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] { // sub-commands; anything else is the server's flags
		case "bench":
			return bench.Main(args[1:], stdout, stderr)
		case "snapshot":
			return snapshotMain(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("metastore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	cfg, err := config.FromArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "metastore: invalid configuration:\n%v\n", err)
		return 2
	}
	b, err := cfg.YAML()
	if err != nil {
		fmt.Fprintln(stderr, "metastore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# metastore configuration (member ID %x)\n%s", cfg.MemberID(), b)
	if err := run(cfg); err != nil {
		fmt.Fprintln(stderr, "metastore:", err)
		return 1
	}
	return 0
}
