package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRocksDBQuota runs the operator's NOSPACE drill on a RocksDB member,
// whose size is RocksDB's own (SST files and memtables): overwriting a few
// keys fills the quota, compaction alone frees nothing (the versions it
// deletes are still in RocksDB's files), defragmenting does, and after the
// alarm is disarmed puts succeed again.
func TestRocksDBQuota(t *testing.T) {
	const quota = 1 << 20
	c := newCluster(t, 1, "--engine=rocksdb", fmt.Sprintf("--quota-backend-bytes=%d", quota))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := c.client(c.endpoints()...)
	ep := c.endpoints()[0]
	random := rand.NewChaCha8([32]byte{7})
	value := make([]byte, 4096) // incompressible: RocksDB's files hold what was written
	var err error
	puts := 0
	for ; puts < 2000 && err == nil; puts++ {
		random.Read(value)
		_, err = cli.Put(ctx, fmt.Sprintf("quota/%d", puts%20), string(value))
	}
	if !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("after %d puts of 4 KiB over 20 keys: %v, want NOSPACE", puts, err)
	}
	full, err := cli.Status(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	if full.DbSize < quota*3/4 {
		t.Fatalf("NOSPACE at dbSize %d, quota %d", full.DbSize, quota)
	}
	if _, err := cli.Compact(ctx, full.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if compacted, err := cli.Status(ctx, ep); err != nil || compacted.DbSize < full.DbSize*3/4 {
		t.Fatalf("after compaction alone: %v, %v (dbSize %d when full)", compacted, err, full.DbSize)
	}
	if _, err := cli.Defragment(ctx, ep); err != nil {
		t.Fatal(err)
	}
	defragged, err := cli.Status(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	if defragged.DbSize > 20*int64(len(value))*2 {
		t.Fatalf("dbSize %d after compaction and defrag (%d when full): 20 live keys of 4 KiB", defragged.DbSize, full.DbSize)
	}
	if _, err := cli.Put(ctx, "quota/refused", "x"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put before disarming: %v, want NOSPACE", err)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: full.Header.MemberId, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "quota/after", "x"); err != nil {
		t.Fatalf("put after disarming: %v", err)
	}
}
