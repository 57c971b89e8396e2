package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// recvEvents reads watch responses until n events arrived.
func recvEvents(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case resp, ok := <-wch:
			if !ok {
				t.Fatalf("watch closed after %d events", len(evs))
			}
			if err := resp.Err(); err != nil {
				t.Fatalf("watch error after %d events: %v", len(evs), err)
			}
			evs = append(evs, resp.Events...)
		case <-timeout:
			t.Fatalf("got %d events, want %d", len(evs), n)
		}
	}
	return evs
}

func TestWatchLiveAndPrevKV(t *testing.T) {
	m := startSingle(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	wch := m.cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	if resp := <-wch; !resp.Created {
		t.Fatalf("first response not created: %+v", resp)
	}
	m.cli.Put(ctx, "w/a", "1")
	m.cli.Put(ctx, "other", "x")
	m.cli.Put(ctx, "w/a", "2")
	m.cli.Delete(ctx, "w/a")
	evs := recvEvents(t, wch, 3)
	if evs[0].Type != mvccpb.PUT || evs[0].PrevKv != nil || string(evs[0].Kv.Value) != "1" {
		t.Fatalf("event 0 = %+v", evs[0])
	}
	if evs[1].PrevKv == nil || string(evs[1].PrevKv.Value) != "1" || string(evs[1].Kv.Value) != "2" {
		t.Fatalf("event 1 = %+v", evs[1])
	}
	if evs[2].Type != mvccpb.DELETE || string(evs[2].PrevKv.Value) != "2" {
		t.Fatalf("event 2 = %+v", evs[2])
	}
}

func TestWatchFromRevisionAndFilters(t *testing.T) {
	m := startSingle(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for i := 0; i < 5; i++ {
		m.cli.Put(ctx, "k", fmt.Sprint(i)) // revisions 2..6
	}
	m.cli.Delete(ctx, "k") // 7
	evs := recvEvents(t, m.cli.Watch(ctx, "k", clientv3.WithRev(3)), 5)
	for i, ev := range evs {
		if ev.Kv.ModRevision != int64(3+i) {
			t.Fatalf("event %d at revision %d", i, ev.Kv.ModRevision)
		}
	}
	noDel := recvEvents(t, m.cli.Watch(ctx, "k", clientv3.WithRev(2), clientv3.WithFilterDelete()), 5)
	for _, ev := range noDel {
		if ev.Type == mvccpb.DELETE {
			t.Fatal("NODELETE watcher got a delete")
		}
	}
	noPut := m.cli.Watch(ctx, "k", clientv3.WithRev(2), clientv3.WithFilterPut())
	if evs := recvEvents(t, noPut, 1); evs[0].Type != mvccpb.DELETE || evs[0].Kv.ModRevision != 7 {
		t.Fatalf("NOPUT watcher got %+v", evs[0])
	}
}

func TestWatchCompacted(t *testing.T) {
	m := startSingle(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for i := 0; i < 5; i++ {
		m.cli.Put(ctx, "k", fmt.Sprint(i))
	}
	if _, err := m.cli.Compact(ctx, 5); err != nil {
		t.Fatal(err)
	}
	resp := <-m.cli.Watch(ctx, "k", clientv3.WithRev(2))
	if resp.CompactRevision != 5 || resp.Err() != rpctypes.ErrCompacted {
		t.Fatalf("compacted watch: rev %d err %v", resp.CompactRevision, resp.Err())
	}
}

// TestWatchSlowWatcherCatchesUp overflows a tiny queue, so the watcher goes
// unsynced and must catch up from the store: every event exactly once, in
// order.
func TestWatchSlowWatcherCatchesUp(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.WatchQueueEvents = 4 })
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	wch := m.cli.Watch(ctx, "s", clientv3.WithPrefix())
	const writers, perWriter = 8, 50
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < perWriter; i++ {
				if _, err := m.cli.Put(ctx, fmt.Sprintf("s%d", w), fmt.Sprint(i)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	evs := recvEvents(t, wch, writers*perWriter)
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for i, ev := range evs {
		if ev.Kv.ModRevision != int64(2+i) {
			t.Fatalf("event %d at revision %d", i, ev.Kv.ModRevision)
		}
	}
	if m.srv.hub.fellBehind.Load() == 0 {
		t.Log("the watcher never fell behind; the catch-up path went untested")
	}
}

func TestWatchProgress(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.ProgressNotifyInterval = 50 * time.Millisecond })
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	m.cli.Put(ctx, "p", "1")
	wch := m.cli.Watch(ctx, "p", clientv3.WithProgressNotify())
	resp := <-wch
	if !resp.IsProgressNotify() || resp.Header.Revision != 2 {
		t.Fatalf("progress notify = %+v", resp)
	}
	// A requested progress answers with the current revision.
	m.cli.Put(ctx, "other", "x") // revision 3
	other := m.cli.Watch(ctx, "zzz")
	if err := m.cli.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-other:
		if !resp.IsProgressNotify() || resp.Header.Revision != 3 {
			t.Fatalf("requested progress = %+v", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress response")
	}
}

func TestWatchCancel(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	wch := m.cli.Watch(wctx, "c")
	m.cli.Put(ctx, "c", "1")
	recvEvents(t, wch, 1)
	cancel()
	for range wch {
	}
	// The server dropped the watcher: the hub has none left.
	eventually(t, 5*time.Second, func() error {
		m.srv.hub.mu.Lock()
		defer m.srv.hub.mu.Unlock()
		for ws := range m.srv.hub.streams {
			if len(ws.watchers) > 0 {
				return fmt.Errorf("%d watchers left", len(ws.watchers))
			}
		}
		return nil
	})
}

// TestWatchHubOverflowDeterministic drives a stream whose sender is not
// running: the queue overflows, the watcher falls behind, and draining the
// queue by hand between catch-ups yields every event once, in order.
func TestWatchHubOverflowDeterministic(t *testing.T) {
	m := startSingle(t, func(c *Config) {
		c.WatchQueueEvents = 4
		c.WatchSyncInterval = time.Hour // catch-ups run only when the test says
	})
	ctx := ctxT(t)
	h := m.srv.hub
	ws := &watchStream{h: h, watchers: make(map[int64]*watcher), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.streams[ws] = struct{}{}
	h.mu.Unlock()
	if err := m.srv.createWatch(ctx, ws, &pb.WatchCreateRequest{Key: []byte("o"), RangeEnd: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		if _, err := m.cli.Put(ctx, fmt.Sprintf("o%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if h.fellBehind.Load() == 0 {
		t.Fatal("a 4-event queue took 20 events without falling behind")
	}
	var revs []int64
	drain := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, it := range ws.queue {
			for _, ev := range it.resp.Events {
				revs = append(revs, ev.Kv.ModRevision)
			}
		}
		ws.queue, ws.queued = nil, 0
	}
	for round := 0; round < 100 && len(revs) < n; round++ {
		drain()
		if err := m.node.exec(ctx, time.Second, h.catchUpAll); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	if len(revs) != n {
		t.Fatalf("got %d events, want %d: %v", len(revs), n, revs)
	}
	for i, r := range revs {
		if r != int64(2+i) {
			t.Fatalf("event %d at revision %d: %v", i, r, revs)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unsynced != 0 {
		t.Fatalf("%d watchers still unsynced", h.unsynced)
	}
}

// TestWatchRawProtocol speaks the Watch stream directly: client-chosen and
// duplicate watch IDs, an empty range, and fragmented responses.
func TestWatchRawProtocol(t *testing.T) {
	m := startSingle(t, func(c *Config) { c.MaxRequestBytes = 16 << 10 })
	ctx := ctxT(t)
	ws, err := pb.NewWatchClient(m.cli.ActiveConnection()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := func(id int64, key, end string, fragment bool) *pb.WatchResponse {
		t.Helper()
		err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			WatchId: id, Key: []byte(key), RangeEnd: []byte(end), Fragment: fragment, PrevKv: fragment}}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ws.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := 0; i < 8; i++ {
		if _, err := m.cli.Put(ctx, fmt.Sprintf("f%d", i), strings.Repeat("v", 4<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if r := create(7, "f", "g", true); !r.Created || r.WatchId != 7 || r.Canceled {
		t.Fatalf("create 7 = %+v", r)
	}
	if r := create(7, "x", "", false); !r.Canceled || r.WatchId != -1 || r.CancelReason != reasonDuplicateID {
		t.Fatalf("duplicate = %+v", r)
	}
	if r := create(0, "b", "a", false); !r.Canceled || r.CancelReason != reasonEmptyRange {
		t.Fatalf("empty range = %+v", r)
	}
	// A small delete whose 8 events carry 4 KiB previous values each: one
	// revision twice the size limit.
	if _, err := m.cli.Delete(ctx, "f", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	var got, parts int
	for got < 8 {
		resp, err := ws.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(resp.Events)
		parts++
		if resp.Fragment != (got < 8) {
			t.Fatalf("part %d: fragment=%v after %d events", parts, resp.Fragment, got)
		}
	}
	if parts < 2 {
		t.Fatalf("a %d-byte revision came in %d part(s)", 8*4<<10, parts)
	}
}
