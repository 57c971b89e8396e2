package server

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLeaseLifecycle(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	g, err := m.cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == 0 || g.TTL != 60 {
		t.Fatalf("grant = %+v", g)
	}
	if _, err := m.cli.Put(ctx, "lk", "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ka, err := m.cli.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.TTL != 60 {
		t.Fatalf("keepalive = %+v, %v", ka, err)
	}
	ttl, err := m.cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "lk" {
		t.Fatalf("ttl = %+v", ttl)
	}
	ls, err := m.cli.Leases(ctx)
	if err != nil || len(ls.Leases) != 1 || ls.Leases[0].ID != g.ID {
		t.Fatalf("leases = %+v, %v", ls, err)
	}
	if _, err := m.cli.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	get, err := m.cli.Get(ctx, "lk")
	if err != nil || len(get.Kvs) != 0 {
		t.Fatalf("key survived its lease: %+v, %v", get, err)
	}
	ttl, err = m.cli.TimeToLive(ctx, g.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("ttl of revoked lease = %+v, %v", ttl, err)
	}
}

func TestLeaseKeepAliveStreamAndExpiry(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	g, err := m.cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	kch, err := m.cli.KeepAlive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case ka := <-kch:
			if ka == nil || ka.TTL != 1 {
				t.Fatalf("keepalive %d = %+v", i, ka)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no keepalive response")
		}
	}
	// A lease nobody renews expires and takes its keys.
	short, err := m.cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.cli.Put(ctx, "gone", "v", clientv3.WithLease(short.ID))
	eventually(t, 10*time.Second, func() error {
		get, err := m.cli.Get(ctx, "gone")
		if err == nil && len(get.Kvs) != 0 {
			err = errString("key still there")
		}
		return err
	})
}

type errString string

func (e errString) Error() string { return string(e) }
