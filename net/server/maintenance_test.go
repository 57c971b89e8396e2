package server

import (
	"fmt"
	"strings"
	"time"

	"bytes"
	"crypto/sha256"
	clientv3 "go.etcd.io/etcd/client/v3"
	"io"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"metastore/core/mvcc"
	"metastore/engines/memory"
)

func TestStatusAndMemberList(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	if _, err := m.cli.Put(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	// The put is answered during a loop round; the status the server
	// reports is the one stored at the end of that round.
	eventually(t, 5*time.Second, func() error {
		st, err := m.cli.Status(ctx, m.clientURL())
		if err != nil {
			return err
		}
		if st.Version != Version || st.Leader != 1 || st.RaftTerm == 0 || st.RaftIndex == 0 ||
			st.RaftAppliedIndex == 0 || st.DbSize == 0 || st.IsLearner || st.Header.Revision != 2 {
			return fmt.Errorf("status = %+v", st)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		ml, err := m.cli.MemberList(ctx)
		if err != nil {
			return err
		}
		if len(ml.Members) != 1 || ml.Members[0].ID != 1 || ml.Members[0].Name != "solo" ||
			len(ml.Members[0].ClientURLs) != 1 || ml.Members[0].ClientURLs[0] != m.clientURL() {
			return fmt.Errorf("member list = %+v", ml.Members)
		}
		return nil
	})
	h1, err := m.cli.HashKV(ctx, m.clientURL(), 0)
	if err != nil || h1.HashRevision != 2 {
		t.Fatalf("hashkv = %+v, %v", h1, err)
	}
	if _, err := m.cli.Put(ctx, "a", "c"); err != nil {
		t.Fatal(err)
	}
	h2, err := m.cli.HashKV(ctx, m.clientURL(), 2)
	if err != nil || h2.Hash != h1.Hash {
		t.Fatalf("hashkv at 2 changed: %+v vs %+v (%v)", h2, h1, err)
	}
	if _, err := m.cli.HashKV(ctx, m.clientURL(), 100); err != rpctypes.ErrFutureRev {
		t.Fatalf("hashkv future: %v", err)
	}
	if _, err := m.cli.Defragment(ctx, m.clientURL()); err != nil {
		t.Fatal(err)
	}
	as, err := m.cli.AuthStatus(ctx)
	if err != nil || as.Enabled {
		t.Fatalf("auth status = %+v, %v", as, err)
	}
	if _, err := m.cli.Authenticate(ctx, "u", "p"); err != rpctypes.ErrAuthNotEnabled {
		t.Fatalf("authenticate: %v", err)
	}
}

// TestSnapshotSave checks the stream clientv3 and etcdctl read: the image
// is whole 512-byte pages, then its sha256, and holds a restorable store.
func TestSnapshotSave(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	for i := 0; i < 100; i++ {
		m.cli.Put(ctx, fmt.Sprintf("snap/%03d", i), strings.Repeat("v", 1000))
	}
	rc, err := m.cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if len(file)%512 != sha256.Size {
		t.Fatalf("snapshot size %d: etcdctl wants size %% 512 == 32", len(file))
	}
	img := file[:len(file)-sha256.Size]
	if sum := sha256.Sum256(img); !bytes.Equal(sum[:], file[len(img):]) {
		t.Fatal("trailing sha256 does not match")
	}
	data, err := DecodeSnapshotFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := mvcc.Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(data); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Range(&pb.RangeRequest{Key: []byte("snap/"), RangeEnd: []byte("snap0"), CountOnly: true})
	if err != nil || resp.Count != 100 {
		t.Fatalf("restored store: %+v, %v", resp, err)
	}
}

func TestAlarmNoSpace(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.QuotaBackendBytes = 64 << 10 })
	ctx := ctxT(t)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = m.cli.Put(ctx, fmt.Sprintf("q%d", i), strings.Repeat("x", 4096))
	}
	if err != rpctypes.ErrNoSpace {
		t.Fatalf("put over quota: %v", err)
	}
	al, err := m.cli.AlarmList(ctx)
	if err != nil || len(al.Alarms) != 1 || al.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("alarms = %+v, %v", al, err)
	}
	if _, err := m.cli.Delete(ctx, "q", clientv3.WithPrefix()); err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	if _, err := m.cli.Put(ctx, "after", "x"); err != rpctypes.ErrNoSpace {
		t.Fatalf("put before disarm: %v", err)
	}
	if _, err := m.cli.AlarmDisarm(ctx, (*clientv3.AlarmMember)(al.Alarms[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cli.Compact(ctx, m.node.Status().Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cli.Put(ctx, "after", "x"); err != nil {
		t.Fatalf("put after disarm and compaction: %v", err)
	}
}
