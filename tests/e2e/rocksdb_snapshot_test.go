package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On RocksDB a snapshot writes no store (the engine is synced, the file
// holds only raft's metadata), yet a member that was down while the log
// was compacted past it catches up by snapshot: the leader makes a file
// from its engine when raft sends the MsgSnap, streams it over the peer
// transport, and removes it once sent. The members end with equal hashes.
func TestRocksDBFollowerCatchesUpFromEngineSnapshot(t *testing.T) {
	c := newCluster(t, 3, rocksArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lagger := c.members[2]
	c.kill(lagger)
	up := c.members[:2]
	if _, err := c.waitLeader(ctx, up); err != nil {
		t.Fatal(err)
	}
	cli := c.client(up[0].client, up[1].client)
	// Past the default 5000 entries a snapshot keeps for slow followers,
	// one raft entry per put.
	const puts = 5600
	putParallel(t, ctx, cli, puts, func(i int) (string, string) {
		return fmt.Sprintf("catchup/k%d", i%500), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 100))
	})
	for _, m := range up {
		snaps, _ := snapshotFiles(t, m)
		if len(snaps) == 0 {
			t.Fatalf("%s took no snapshot in %d puts", m.name, puts)
		}
		for name, size := range snaps {
			if size > 1024 {
				t.Fatalf("%s: snapshot %s is %d bytes: it holds the store", m.name, name, size)
			}
		}
	}
	c.start(lagger)
	rev := converge(t, ctx, c)
	checkHashes(t, ctx, c, rev)
	// The installed snapshot is the one file that holds a store.
	installed := false
	snaps, _ := snapshotFiles(t, lagger)
	for _, size := range snaps {
		installed = installed || size > 1024
	}
	if !installed {
		t.Fatalf("%s caught up without installing a snapshot (its snapshot files: %v)", lagger.name, snaps)
	}
	sent := false
	for _, m := range up {
		// "snapshot file for sending written", or "slow snapshot file for sending" on a busy machine
		sent = sent || logHas(t, m, "snapshot file for sending") && logHas(t, m, "sent snapshot")
	}
	if !sent {
		t.Fatal("no member made a file and sent the snapshot")
	}
	// The file made for sending goes once the transport reported the send.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := 0
		for _, m := range up {
			_, sends := snapshotFiles(t, m)
			left += len(sends)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files for sending left 10s after the follower caught up", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// snapshotFiles lists m's snapshot files (.snap) and files made for
// sending (.send) with their sizes.
func snapshotFiles(t *testing.T, m *member) (snaps, sends map[string]int64) {
	t.Helper()
	snaps, sends = map[string]int64{}, map[string]int64{}
	err := filepath.WalkDir(m.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".snap":
			snaps[p] = info.Size()
		case ".send":
			sends[p] = info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snaps, sends
}

func logHas(t *testing.T, m *member, s string) bool {
	t.Helper()
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}
