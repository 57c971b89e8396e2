package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/mvcc"
	"metastore/core/realworld"
	"metastore/core/wal"
	"metastore/engines/memory"
	"metastore/net/config"
	"metastore/net/server"
)

// writeSnapshotFile saves a store with n keys (one deleted) as `etcdctl
// snapshot save` would receive it from a member, and returns the store.
func writeSnapshotFile(t *testing.T, path string, n int) *mvcc.Store {
	t.Helper()
	st, err := mvcc.Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		st.Apply(uint64(i+1), &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("v")}})
	}
	st.Apply(uint64(n+1), &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k0")}})
	data, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	img := server.EncodeSnapshotFile(data)
	sum := sha256.Sum256(img)
	if err := os.WriteFile(path, append(img, sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	return st
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = mainErr(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSnapshotStatusPrintsEtcdutlFields(t *testing.T) {
	file := filepath.Join(t.TempDir(), "backup.db")
	st := writeSnapshotFile(t, file, 20)
	code, out, errOut := runMain(t, "snapshot", "status", file, "-w", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fi, _ := os.Stat(file)
	want := map[string]any{"hash": float64(st.Hash()), "revision": float64(st.Rev()), "totalKey": float64(19),
		"totalSize": float64(fi.Size() - sha256.Size), "version": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("status json %v, want %v", got, want)
	}
	code, out, _ = runMain(t, "snapshot", "status", "-w", "table", file)
	if code != 0 || !strings.Contains(out, "| TOTAL KEYS |") || !strings.Contains(out, fmt.Sprintf("| %x |", st.Hash())) {
		t.Fatalf("table (exit %d):\n%s", code, out)
	}
	code, out, _ = runMain(t, "snapshot", "status", file)
	if wantLine := fmt.Sprintf("%x, %d, 19, %s, \n", st.Hash(), st.Rev(), humanBytes(fi.Size()-sha256.Size)); code != 0 || out != wantLine {
		t.Fatalf("simple (exit %d): %q, want %q", code, out, wantLine)
	}
}

func TestSnapshotCommandsRefuseDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeSnapshotFile(t, good, 50)
	body, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), body...)
	flipped[100] ^= 1
	// A damaged store image under a recomputed, matching sha256: only the
	// store's own checksum can tell.
	img := append([]byte(nil), body[:len(body)-sha256.Size]...)
	img[200] ^= 1
	sum := sha256.Sum256(img)
	// A framing that does not parse, under a matching sha256.
	foreign := make([]byte, 1024)
	copy(foreign, "SQLite format 3")
	fsum := sha256.Sum256(foreign)
	for name, c := range map[string]struct {
		file string
		want string
	}{
		"truncated":      {write("truncated.db", body[:len(body)/2]), "corrupt or truncated"},
		"tiny":           {write("tiny.db", body[:10]), "truncated"},
		"flipped byte":   {write("flipped.db", flipped), "sha256"},
		"inner crc":      {write("inner.db", append(img, sum[:]...)), "store image inside is damaged"},
		"foreign format": {write("foreign.db", append(foreign, fsum[:]...)), "not a MetaStore snapshot"},
		"missing":        {filepath.Join(dir, "nope.db"), "no such file"},
	} {
		code, _, errOut := runMain(t, "snapshot", "status", c.file)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: status exit %d, %q; want an error with %q", name, code, errOut, c.want)
		}
		data := filepath.Join(dir, "restore-"+strings.ReplaceAll(name, " ", "-"))
		code, _, errOut = runMain(t, "snapshot", "restore", c.file, "--data-dir", data)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: restore exit %d, %q; want an error with %q", name, code, errOut, c.want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%s: restore left %s behind (%v)", name, data, err)
		}
	}
}

func TestSnapshotRestoreWritesTheNewMembership(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	src := writeSnapshotFile(t, file, 30)
	initial := "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"
	data := filepath.Join(dir, "b")
	code, out, errOut := runMain(t, "snapshot", "restore", file, "--name", "b", "--data-dir", data,
		"--initial-cluster", initial, "--initial-cluster-token", "restored",
		"--initial-advertise-peer-urls", "http://10.0.0.2:2380")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	members, _ := config.ParseInitialCluster(initial, "restored")
	ids := []uint64{members[0].ID, members[1].ID, members[2].ID}
	if want := fmt.Sprintf("member b (ID %x) of cluster %x with 3 members", members[1].ID, config.ClusterID(ids)); !strings.Contains(out, want) {
		t.Fatalf("output %q lacks %q", out, want)
	}
	snap, err := wal.LoadNewestSnapshot(realworld.OSDisk{}, filepath.Join(data, "member", "snap"))
	if err != nil || snap == nil {
		t.Fatalf("restored snapshot: %v %v", snap, err)
	}
	if got := snap.Meta.GetConfState().GetVoters(); len(got) != 3 || !slices.Contains(got, ids[0]) ||
		!slices.Contains(got, ids[1]) || !slices.Contains(got, ids[2]) {
		t.Fatalf("voters %v, want %v", got, ids)
	}
	st, err := mvcc.Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := restoreFromFile(st, snap); err != nil {
		t.Fatal(err)
	}
	names := map[uint64]string{}
	for _, m := range members {
		names[m.ID] = fmt.Sprintf(`{"name":%q,"peerURLs":[%q]}`, m.Name, m.PeerURLs[0])
	}
	for _, m := range st.Members() {
		if string(m.Context) != names[m.ID] {
			t.Fatalf("member %x: %s, want %s", m.ID, m.Context, names[m.ID])
		}
	}
	if len(st.Members()) != 3 {
		t.Fatalf("members %v", st.Members())
	}
	a, _ := st.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	b, _ := src.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if fmt.Sprint(a.Kvs) != fmt.Sprint(b.Kvs) || st.Rev() != src.Rev() {
		t.Fatal("restored keys differ from the snapshot's")
	}
	// A second restore into the same directory is refused; so is a name
	// not in --initial-cluster.
	code, _, errOut = runMain(t, "snapshot", "restore", file, "--name", "b", "--data-dir", data,
		"--initial-cluster", initial, "--initial-advertise-peer-urls", "http://10.0.0.2:2380")
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a used directory: exit %d %s", code, errOut)
	}
	code, _, errOut = runMain(t, "snapshot", "restore", file, "--name", "z", "--data-dir", filepath.Join(dir, "z"),
		"--initial-cluster", initial)
	if code != 1 || !strings.Contains(errOut, `no member named "z"`) {
		t.Fatalf("restore of a stranger: exit %d %s", code, errOut)
	}
}

func TestSnapshotRestoreBumpsTheRevision(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	src := writeSnapshotFile(t, file, 5)
	if code, _, errOut := runMain(t, "snapshot", "restore", file, "--data-dir", filepath.Join(dir, "x"), "--bump-revision", "7"); code != 2 ||
		!strings.Contains(errOut, "--mark-compacted is required") {
		t.Fatalf("bump without --mark-compacted: exit %d %s", code, errOut)
	}
	data := filepath.Join(dir, "d")
	if code, _, errOut := runMain(t, "snapshot", "restore", file, "--data-dir", data, "--bump-revision", "1000", "--mark-compacted"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	snap, err := wal.LoadNewestSnapshot(realworld.OSDisk{}, filepath.Join(data, "member", "snap"))
	if err != nil || snap == nil {
		t.Fatalf("restored snapshot: %v %v", snap, err)
	}
	st, err := mvcc.Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := restoreFromFile(st, snap); err != nil {
		t.Fatal(err)
	}
	if st.Rev() != src.Rev()+1000 || st.CompactRev() != src.Rev()+1000 {
		t.Fatalf("restored rev %d compact %d, want both %d", st.Rev(), st.CompactRev(), src.Rev()+1000)
	}
}

// restoreFromFile restores st from the store stream in a snapshot file.
func restoreFromFile(st *mvcc.Store, snap *wal.SnapFile) error {
	body, err := snap.OpenPayload(realworld.OSDisk{})
	if err != nil {
		return err
	}
	defer body.Close()
	return st.RestoreFrom(body)
}
