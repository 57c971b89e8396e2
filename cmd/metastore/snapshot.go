package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
	"metastore/core/mvcc"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/net/config"
	"metastore/net/server"
)

const snapshotUsage = `Usage:
  metastore snapshot restore FILE [flags]   build a new member's data directory from FILE
  metastore snapshot status FILE [-w simple|table|json]   print FILE's hash, revision, keys and size

FILE is what 'etcdctl snapshot save' wrote from a MetaStore member. Both commands
check it whole first (its sha256 trailer, its framing, the store image's checksum)
and refuse a corrupt or truncated file. Run 'metastore snapshot restore --help' for
how to bring a cluster back from a backup.
`

const restoreUsage = `Usage:
  metastore snapshot restore FILE --name NAME --data-dir DIR \
    --initial-cluster NAME=URL,... --initial-cluster-token TOKEN --initial-advertise-peer-urls URL

Builds the data directory of one member of a NEW cluster from a snapshot, as
'etcdutl snapshot restore' does: every key, value, create and mod revision, version,
lease and the compaction point are kept; the membership is replaced by
--initial-cluster, with member and cluster IDs derived from it and the token, so
the restored cluster cannot be mistaken for the old one. Alarms are cleared.
For Kubernetes, add --bump-revision 1000000000 --mark-compacted, as with etcdutl:
watchers and caches then see a compaction instead of revisions going back.

Disaster recovery of a three-member cluster, from one snapshot file:
  etcdctl --endpoints=http://h1:2379 snapshot save backup.db
  # on each host i in 1..3, the same FILE and cluster flags, its own name and URL:
  metastore snapshot restore backup.db --name mi --data-dir /var/lib/metastore/mi \
    --initial-cluster m1=http://h1:2380,m2=http://h2:2380,m3=http://h3:2380 \
    --initial-cluster-token restored-1 --initial-advertise-peer-urls http://hi:2380
  # then start each member with the same name, data dir and cluster flags:
  metastore --name mi --data-dir /var/lib/metastore/mi --initial-cluster ... \
    --initial-cluster-token restored-1 --initial-advertise-peer-urls http://hi:2380 \
    --listen-peer-urls http://hi:2380 --listen-client-urls http://hi:2379

Use a new --initial-cluster-token. Peers with another token, or another cluster ID,
refuse each other, so a restored member never joins the old cluster (only the same
token with the same --initial-cluster gives the same IDs, as with etcd). The data directory must not exist
or be empty.

Flags:
`

// snapshotMain runs `metastore snapshot ...` and returns the exit code.
func snapshotMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, snapshotUsage)
		return 2
	}
	switch args[0] {
	case "restore":
		return snapshotRestore(args[1:], stdout, stderr)
	case "status":
		return snapshotStatus(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, snapshotUsage)
		return 0
	}
	fmt.Fprintf(stderr, "metastore snapshot: unknown command %q\n\n%s", args[0], snapshotUsage)
	return 2
}

// parseWithFile parses flags that may come before or after the one FILE
// argument (etcdutl accepts both orders) and returns FILE.
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file := rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return "", err
		}
		if fs.NArg() > 0 {
			return "", fmt.Errorf("unexpected argument %q after FILE", fs.Arg(0))
		}
		return file, nil
	}
	return "", errors.New("a snapshot FILE is required")
}

func snapshotRestore(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fs := flag.NewFlagSet("metastore snapshot restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), restoreUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Name, "name", cfg.Name, "`name` of the member this directory is for; must be in --initial-cluster")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "`directory` to create (default \"${name}.metastore\", as the server's)")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "",
		"the new cluster's members, `name=url,...`: the same for every member, as each will be started with\n"+
			"(default \"${name}=${initial-advertise-peer-urls}\")")
	fs.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", cfg.InitialClusterToken,
		"the new cluster's `token`; it seeds the member and cluster IDs (choose a new one)")
	fs.Var(&cfg.InitialAdvertisePeerURLs, "initial-advertise-peer-urls",
		"this member's peer `URLs`, as in --initial-cluster (default http://127.0.0.1:2380)")
	var bump uint64
	var markCompacted bool
	fs.Uint64Var(&bump, "bump-revision", 0,
		"raise the revision by this `many` after restore, so a restore from an older backup never\n"+
			"reuses revisions clients saw (requires --mark-compacted)")
	fs.BoolVar(&markCompacted, "mark-compacted", false,
		"compact the history at the bumped revision: reads and watches from before the restore get\n"+
			"\"required revision has been compacted\" and caches start over (required with --bump-revision > 0)")
	file, err := parseWithFile(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && (bump > 0) != markCompacted {
		err = errors.New("--mark-compacted is required with --bump-revision > 0, and allowed only with it")
	}
	if err == nil && bump > math.MaxInt64/2 {
		err = fmt.Errorf("--bump-revision=%d is too large", bump)
	}
	if err != nil {
		fmt.Fprintf(stderr, "metastore snapshot restore: %v\n(see metastore snapshot restore --help)\n", err)
		return 2
	}
	cfg.Resolve()
	if err := restore(file, cfg, int64(bump), stdout); err != nil {
		fmt.Fprintf(stderr, "metastore snapshot restore: %v\n", err)
		return 1
	}
	return 0
}

// restore builds cfg.DataDir/member from the snapshot file with the
// membership of cfg, as the server will compute it at start.
func restore(file string, cfg *config.Config, bumpRevision int64, stdout io.Writer) error {
	members, err := cfg.Members()
	if err != nil {
		return err
	}
	self := cfg.MemberID()
	ids := make([]uint64, len(members))
	restored := make([]mvcc.Member, len(members))
	for i, m := range members {
		ids[i] = m.ID
		restored[i] = mvcc.Member{ID: m.ID, Context: server.MemberContext(m.Name, m.PeerURLs)}
	}
	if !slices.Contains(ids, self) {
		return fmt.Errorf("--initial-cluster has no member named %q with peer URLs %s",
			cfg.Name, cfg.InitialAdvertisePeerURLs.String())
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("data directory %s exists and is not empty; restore only into a new directory", cfg.DataDir)
	}
	snap, err := readSavedSnapshot(file)
	if err != nil {
		return err
	}
	if _, err := openSnapshotStore(file, snap.Data); err != nil {
		return err // checked before anything is written
	}
	dir := filepath.Join(cfg.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	index, err := core.Restore(core.RestoreConfig{
		Dir:          dir,
		Disk:         realworld.OSDisk{},
		Engine:       memory.New(), // the memory engine is rebuilt from the snapshot at start
		Data:         snap.Data,
		Members:      restored,
		BumpRevision: bumpRevision,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored snapshot %s into %s: member %s (ID %x) of cluster %x with %d members, raft index %d\n",
		file, cfg.DataDir, cfg.Name, self, config.ClusterID(ids), len(ids), index)
	return nil
}

// snapshotStatus is etcdutl's Status: its JSON field names, its table.
type snapshotStatusReport struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	// Version is etcd's storage version; MetaStore snapshots carry none,
	// which etcd reports as "" too (snapshots of etcd before 3.6).
	Version string `json:"version"`
}

func snapshotStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metastore snapshot status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  metastore snapshot status FILE [-w simple|table|json]

Checks FILE whole and prints, as 'etcdutl snapshot status' does: the hash of the
store (equal to 'etcdctl endpoint hash' of the member when it was saved), the
revision, the number of live keys and the image size.

Flags:
`)
		fs.PrintDefaults()
	}
	var format string
	fs.StringVar(&format, "write-out", "simple", "output `format`: simple, table or json")
	fs.StringVar(&format, "w", "simple", "short for --write-out")
	file, err := parseWithFile(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && !slices.Contains([]string{"simple", "table", "json"}, format) {
		err = fmt.Errorf("--write-out=%q: want simple, table or json", format)
	}
	if err != nil {
		fmt.Fprintf(stderr, "metastore snapshot status: %v\n", err)
		return 2
	}
	st, err := statusOf(file)
	if err != nil {
		fmt.Fprintf(stderr, "metastore snapshot status: %v\n", err)
		return 1
	}
	switch format {
	case "json":
		b, _ := json.Marshal(st)
		fmt.Fprintln(stdout, string(b))
	case "table":
		printTable(stdout, []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION"}, st.row())
	default:
		fmt.Fprintln(stdout, strings.Join(st.row(), ", "))
	}
	return 0
}

func statusOf(file string) (snapshotStatusReport, error) {
	snap, err := readSavedSnapshot(file)
	if err != nil {
		return snapshotStatusReport{}, err
	}
	st, err := openSnapshotStore(file, snap.Data)
	if err != nil {
		return snapshotStatusReport{}, err
	}
	all, err := st.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true})
	if err != nil {
		return snapshotStatusReport{}, err
	}
	return snapshotStatusReport{Hash: st.Hash(), Revision: st.Rev(), TotalKey: int(all.Count), TotalSize: snap.ImageBytes}, nil
}

func (s snapshotStatusReport) row() []string {
	return []string{fmt.Sprintf("%x", s.Hash), fmt.Sprint(s.Revision), fmt.Sprint(s.TotalKey), humanBytes(s.TotalSize), s.Version}
}

// humanBytes writes a size in SI units as etcdutl does: "512 B", "25 kB",
// "1.2 MB".
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	v := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[int(e)])
	}
	return fmt.Sprintf("%.0f %s", v, units[int(e)])
}

// printTable prints one bordered row under a header, etcdutl's table look.
func printTable(w io.Writer, hdr, row []string) {
	widths := make([]int, len(hdr))
	for i := range hdr {
		widths[i] = max(len(hdr[i]), len(row[i]))
	}
	line := "+"
	for _, n := range widths {
		line += strings.Repeat("-", n+2) + "+"
	}
	cells := func(vs []string) string {
		s := "|"
		for i, v := range vs {
			s += fmt.Sprintf(" %*s |", widths[i], v)
		}
		return s
	}
	fmt.Fprintf(w, "%s\n%s\n%s\n%s\n%s\n", line, cells(hdr), line, cells(row), line)
}
