package leangrpc_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"metastore/core"
	"metastore/core/realworld"
	"metastore/engines/memory"
	"metastore/net/leangrpc"
	"metastore/net/server"
)

type dropNetwork struct{}

func (dropNetwork) Send([]*raftpb.Message) {}

// startMember runs a one-member MetaStore whose client port is a
// leangrpc.Server, and returns a clientv3 client for it.
func startMember(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	eng := server.NewSizedEngine(memory.New())
	r, err := core.Open(core.Config{
		ID: 1, Peers: []uint64{1}, Network: dropNetwork{},
		Dir: filepath.Join(t.TempDir(), "member"), Disk: realworld.OSDisk{}, Clock: realworld.NewClock(),
		Engine: eng, Pipeline: true,
		Rand: rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
	})
	if err != nil {
		t.Fatal(err)
	}
	node := server.NewNode(r, server.NodeConfig{TickInterval: 10 * time.Millisecond})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	srv := server.New(node, server.Config{
		Name: "solo", ClusterID: 0xc1, ClientURLs: []string{url}, RequestTimeout: 3 * time.Second,
		DBSize: eng.Size, WatchSyncInterval: 10 * time.Millisecond, MemberSyncInterval: 50 * time.Millisecond,
	})
	g := leangrpc.NewServer(leangrpc.Options{
		UnaryInterceptors:  []grpc.UnaryServerInterceptor{srv.UnaryInterceptor()},
		StreamInterceptors: srv.StreamInterceptors(),
		MaxRecvMsgSize:     3<<19 + 512<<10,
		Workers:            16,
		Unmarshal:          server.UnmarshalRequest, // as cmd/metastore wires it
		Marshal:            server.MarshalResponse,
	})
	srv.Register(g)
	node.Start()
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli.Close()
		g.Stop()
		if err := <-served; !errors.Is(err, leangrpc.ErrServerStopped) {
			t.Errorf("Serve returned %v", err)
		}
		srv.Close()
		node.Stop()
	})
	deadline := time.Now().Add(10 * time.Second)
	for node.Status().Leader == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cli, lis.Addr().String()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKVPutGetTxnDelete(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "1" || got.Header.ClusterId != 0xc1 {
		t.Fatalf("get a: %+v", got)
	}
	txn, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("a"), "=", "1")).
		Then(clientv3.OpPut("b", "2")).
		Else(clientv3.OpPut("b", "wrong")).Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("txn: %+v %v", txn, err)
	}
	// A compare on a missing key fails the compare, not the call.
	txn, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Version("missing"), ">", 0)).
		Else(clientv3.OpGet("b")).Commit()
	if err != nil || txn.Succeeded || string(txn.Responses[0].GetResponseRange().Kvs[0].Value) != "2" {
		t.Fatalf("txn on a missing key: %+v %v", txn, err)
	}
	del, err := cli.Delete(ctx, "", clientv3.WithPrefix())
	if err != nil || del.Deleted != 2 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	got, err = cli.Get(ctx, "a")
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("get after delete: %+v %v", got, err)
	}
}

func TestEtcdErrors(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, "", "x"); !errors.Is(err, rpctypes.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := cli.Put(ctx, "k", "v", clientv3.WithLease(12345)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("unknown lease: %v", err)
	}
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, 100); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("compact a future revision: %v", err)
	}
	if _, err := cli.Get(ctx, "k", clientv3.WithRev(1000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("future revision: %v", err)
	}
	// The status code itself, as a plain gRPC client sees it.
	_, err := pb.NewKVClient(cli.ActiveConnection()).Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: 1000})
	if s := status.Convert(err); s.Code() != codes.OutOfRange || s.Message() != rpctypes.ErrGRPCFutureRev.Error()[len("rpc error: code = OutOfRange desc = "):] {
		t.Fatalf("future revision status: %v", err)
	}
}

func TestLargeValueAndRange(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if _, err := cli.Put(ctx, "big", string(big)); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "big")
	if err != nil || len(got.Kvs) != 1 || !bytes.Equal(got.Kvs[0].Value, big) {
		t.Fatalf("get big: err %v", err)
	}
	// A client granting small windows makes the writer wait for its
	// WINDOW_UPDATEs mid-message.
	small, err := grpc.NewClient(cli.Endpoints()[0][len("http://"):],
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	rr, err := pb.NewKVClient(small).Range(ctx, &pb.RangeRequest{Key: []byte("big")})
	if err != nil || len(rr.Kvs) != 1 || !bytes.Equal(rr.Kvs[0].Value, big) {
		t.Fatalf("get big through 64 KiB windows: err %v", err)
	}
	// A snapshot streams more than SendMsg may queue unwritten.
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n < int64(len(big)) {
		t.Fatalf("snapshot: %d bytes, %v", n, err)
	}
	val := strings.Repeat("v", 1000)
	for i := range 1500 {
		if _, err := cli.Put(ctx, fmt.Sprintf("r/%05d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	// Two big answers at once on one connection share its window.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			rr, err := cli.Get(ctx, "r/", clientv3.WithPrefix())
			if err == nil && (len(rr.Kvs) != 1500 || string(rr.Kvs[1499].Key) != "r/01499") {
				err = fmt.Errorf("range: %d keys", len(rr.Kvs))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, "toobig", strings.Repeat("x", 3<<20)); status.Code(err) != codes.ResourceExhausted &&
		!errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Fatalf("put of 3 MiB: %v", err)
	}
}

func TestWatch(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	wch := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if resp := <-wch; !resp.Created {
		t.Fatalf("first watch response: %+v", resp)
	}
	for i := range 3 {
		if _, err := cli.Put(ctx, fmt.Sprintf("w/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for len(keys) < 3 {
		resp, ok := <-wch
		if !ok || resp.Err() != nil {
			t.Fatalf("watch ended: %v", resp.Err())
		}
		for _, ev := range resp.Events {
			keys = append(keys, string(ev.Kv.Key))
		}
	}
	if strings.Join(keys, ",") != "w/0,w/1,w/2" {
		t.Fatalf("events %v", keys)
	}
	// A watch on a compacted revision is canceled with etcd's reason.
	if _, err := cli.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	resp := <-cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(1))
	if resp.CompactRevision != 3 || !resp.Canceled {
		t.Fatalf("watch from a compacted revision: %+v", resp)
	}
}

func TestLease(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	g, err := cli.Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "leased", "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ka, err := cli.KeepAlive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, ok := <-ka
		if !ok || resp.ID != g.ID || resp.TTL <= 0 {
			t.Fatalf("keepalive: %+v", resp)
		}
	}
	ttl, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	if err != nil || len(ttl.Keys) != 1 {
		t.Fatalf("ttl: %+v %v", ttl, err)
	}
	if _, err := cli.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "leased")
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("after revoke: %+v %v", got, err)
	}
}

// blockingKV holds Range until its context ends, and says how it ended.
type blockingKV struct {
	pb.UnimplementedKVServer
	ended    chan error
	deadline chan time.Time
	release  chan struct{}
}

func (b *blockingKV) Range(ctx context.Context, _ *pb.RangeRequest) (*pb.RangeResponse, error) {
	dl, _ := ctx.Deadline()
	b.deadline <- dl
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, ctx.Err()
}

// DeleteRange waits for release.
func (b *blockingKV) DeleteRange(ctx context.Context, _ *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	b.deadline <- time.Time{}
	<-b.release
	return &pb.DeleteRangeResponse{Deleted: 7}, nil
}

// Put answers with what the request's metadata and the transport stream
// say, and sets a header and a trailer.
func (b *blockingKV) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if err := grpc.SetHeader(ctx, metadata.Pairs("h", "hv", "big", strings.Join(md.Get("big"), ""),
		"echo-bin", strings.Join(md.Get("x-bin"), ""))); err != nil {
		return nil, err
	}
	grpc.SetTrailer(ctx, metadata.Pairs("t", "tv"))
	if string(req.Key) == "fail" {
		return nil, status.Error(codes.FailedPrecondition, "asked to fail: 100% sûre")
	}
	return &pb.PutResponse{PrevKv: &mvccKV{Key: []byte(grpc.ServerTransportStreamFromContext(ctx).Method()),
		Value: []byte(strings.Join(md.Get("token"), ","))}}, nil
}

type mvccKV = mvccpb.KeyValue

func startBare(t *testing.T, impl pb.KVServer) *grpc.ClientConn {
	cc, _ := startBareServer(t, impl)
	return cc
}

func startBareServer(t *testing.T, impl pb.KVServer) (*grpc.ClientConn, *leangrpc.Server) {
	return startBareServerWith(t, impl, leangrpc.Options{})
}

func startBareServerWith(t *testing.T, impl pb.KVServer, opts leangrpc.Options) (*grpc.ClientConn, *leangrpc.Server) {
	t.Helper()
	g := leangrpc.NewServer(opts)
	pb.RegisterKVServer(g, impl)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		g.Stop()
	})
	return cc, g
}

func TestGracefulStop(t *testing.T) {
	b := &blockingKV{deadline: make(chan time.Time, 1), release: make(chan struct{})}
	cc, g := startBareServer(t, b)
	kv := pb.NewKVClient(cc)
	ctx := ctxT(t)
	answer := make(chan error, 1)
	go func() {
		resp, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{})
		if err == nil && resp.Deleted != 7 {
			err = fmt.Errorf("answer %+v", resp)
		}
		answer <- err
	}()
	<-b.deadline // the call is in its handler
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	// New calls are refused (GOAWAY, then no listener) while the open one
	// still runs.
	for {
		_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k")})
		if status.Code(err) == codes.Unavailable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-stopped:
		t.Fatal("GracefulStop returned with a call open")
	default:
	}
	close(b.release)
	if err := <-answer; err != nil {
		t.Fatalf("the call open at GracefulStop: %v", err)
	}
	<-stopped
}

func TestCancelAndDeadline(t *testing.T) {
	b := &blockingKV{ended: make(chan error, 1), deadline: make(chan time.Time, 1)}
	kv := pb.NewKVClient(startBare(t, b))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k")})
		done <- err
	}()
	if dl := <-b.deadline; !dl.IsZero() {
		t.Fatalf("a call without a deadline has one: %v", dl)
	}
	cancel()
	if err := <-b.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context after the client canceled: %v", err)
	}
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("client: %v", err)
	}

	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k")})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("client past its deadline: %v", err)
	}
	// The handler's context carries the client's grpc-timeout; whether the
	// server's timer or the client's RST_STREAM ends it first is a race.
	// (grpc-timeout is rounded up, so the server's may lie a little later.)
	if dl := <-b.deadline; dl.IsZero() || dl.After(start.Add(time.Minute)) {
		t.Fatalf("handler's deadline %v, client's %v", dl, start.Add(300*time.Millisecond))
	}
	if err := <-b.ended; err == nil {
		t.Fatal("handler's context not ended past the deadline")
	}
}

// TestMetadataReuse checks that a connection's calls see their own
// metadata while the server reuses the previous call's when it is
// unchanged: the same token again, a different one, a second value, none.
func TestMetadataReuse(t *testing.T) {
	kv := pb.NewKVClient(startBare(t, &blockingKV{}))
	for i, token := range [][]string{{"a"}, {"a"}, {"b"}, {"a"}, {"a", "b"}, nil, {"a"}, {"a"}} {
		ctx := ctxT(t)
		for _, v := range token {
			ctx = metadata.AppendToOutgoingContext(ctx, "token", v)
		}
		resp, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(resp.PrevKv.Value), strings.Join(token, ","); got != want {
			t.Fatalf("call %d: the handler saw token %q, sent %q", i, got, want)
		}
	}
}

func TestMetadataHeadersTrailersStatus(t *testing.T) {
	cc := startBare(t, &blockingKV{})
	kv := pb.NewKVClient(cc)
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "token", "secret")
	var hdr, trl metadata.MD
	resp, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k")}, grpc.Header(&hdr), grpc.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.PrevKv.Key) != "/etcdserverpb.KV/Put" || string(resp.PrevKv.Value) != "secret" {
		t.Fatalf("method and token seen by the handler: %q %q", resp.PrevKv.Key, resp.PrevKv.Value)
	}
	if hdr.Get("h")[0] != "hv" || trl.Get("t")[0] != "tv" {
		t.Fatalf("header %v trailer %v", hdr, trl)
	}
	// Header blocks larger than a frame travel in CONTINUATION frames,
	// both ways.
	big := strings.Repeat("b", 40<<10)
	if _, err := kv.Put(metadata.AppendToOutgoingContext(ctx, "big", big), &pb.PutRequest{Key: []byte("k")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("big"); len(got) != 1 || got[0] != big {
		t.Fatalf("a 40 KiB header came back as %d values", len(got))
	}
	// Binary metadata travels base64-encoded both ways.
	raw := string([]byte{0, 1, 0xfe, 0xff, '\n'})
	if _, err := kv.Put(metadata.AppendToOutgoingContext(ctx, "x-bin", raw), &pb.PutRequest{Key: []byte("k")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("echo-bin"); len(got) != 1 || got[0] != raw {
		t.Fatalf("binary metadata came back as %q", got)
	}
	_, err = kv.Put(ctx, &pb.PutRequest{Key: []byte("fail")}, grpc.Trailer(&trl))
	if s := status.Convert(err); s.Code() != codes.FailedPrecondition || s.Message() != "asked to fail: 100% sûre" {
		t.Fatalf("error status: %v", err)
	}
	if len(trl.Get("t")) != 1 {
		t.Fatalf("trailer of a trailers-only answer: %v", trl)
	}
	_, err = kv.Compact(ctx, &pb.CompactionRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("unimplemented method: %v", err)
	}
	err = cc.Invoke(ctx, "/no.Such/Method", &pb.PutRequest{}, &pb.PutResponse{})
	if s := status.Convert(err); s.Code() != codes.Unimplemented || !strings.Contains(s.Message(), "unknown method Method for service no.Such") {
		t.Fatalf("unknown service: %v", err)
	}
}

// countingWatch reads every request of a Watch stream, then answers with
// how many bytes of keys it read.
type countingWatch struct {
	pb.UnimplementedWatchServer
	start chan struct{}
}

func (w countingWatch) Watch(stream pb.Watch_WatchServer) error {
	<-w.start
	var n int64
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.Send(&pb.WatchResponse{WatchId: n})
		}
		if err != nil {
			return err
		}
		n += int64(len(req.GetCreateRequest().GetKey()))
	}
}

// A streaming handler's messages are credited back to the client's window
// only as the handler reads them: sending five windows' worth must still
// finish, through the credits RecvMsg gives back.
func TestStreamingReceiveWindow(t *testing.T) {
	g := leangrpc.NewServer(leangrpc.Options{})
	w := countingWatch{start: make(chan struct{})}
	pb.RegisterWatchServer(g, w)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := pb.NewWatchClient(cc).Watch(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte("k"), 100<<10)
	const msgs = 200 // 20 MiB: five times the stream window
	sent := make(chan error, 1)
	go func() {
		for range msgs {
			if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
				CreateRequest: &pb.WatchCreateRequest{Key: key}}}); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	close(w.start)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.WatchId != msgs*int64(len(key)) {
		t.Fatalf("handler read %v bytes (%v), want %d", resp.GetWatchId(), err, msgs*len(key))
	}
}

// Many clients at once, some canceling mid-call and some watching, on one
// connection: every call ends with its answer or its own context's
// error, and the server serves on afterwards.
func TestConcurrentMixedCalls(t *testing.T) {
	cli, _ := startMember(t)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Go(func() {
			for i := range 60 {
				key := fmt.Sprintf("mix/%d/%d", w, i%7)
				callCtx, cancel := context.WithCancel(ctx)
				if i%5 == 4 {
					cancel() // canceled before or while it is sent
				}
				var err error
				switch i % 3 {
				case 0:
					_, err = cli.Put(callCtx, key, strings.Repeat("x", 100*i))
				case 1:
					_, err = cli.Get(callCtx, "mix/", clientv3.WithPrefix())
				case 2:
					wch := cli.Watch(clientv3.WithRequireLeader(callCtx), key)
					if _, perr := cli.Put(ctx, key, "w"); perr != nil {
						err = perr
						break
					}
					if i%5 != 4 {
						resp := <-wch
						if resp.Err() == nil && len(resp.Events) == 0 {
							err = fmt.Errorf("watch %s: no event", key)
						}
					}
				}
				if err != nil && !errors.Is(err, context.Canceled) && callCtx.Err() == nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, i, err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := cli.Put(ctx, "after", "ok"); err != nil {
		t.Fatal(err)
	}
}

// TestUnmarshalOption: requests are decoded by Options.Unmarshal when it is
// set, and its error fails the call as proto's would.
func TestUnmarshalOption(t *testing.T) {
	var calls atomic.Int32
	cc, _ := startBareServerWith(t, echoKV{}, leangrpc.Options{Unmarshal: func(b []byte, m proto.Message) error {
		calls.Add(1)
		if err := proto.Unmarshal(b, m); err != nil {
			return err
		}
		if req, ok := m.(*pb.PutRequest); ok && string(req.Key) == "refuse" {
			return errors.New("refused by the custom decoder")
		}
		return nil
	}})
	kv := pb.NewKVClient(cc)
	resp, err := kv.Put(ctxT(t), &pb.PutRequest{Key: []byte("k1")})
	if err != nil || string(resp.GetPrevKv().GetKey()) != "k1" {
		t.Fatalf("Put = %v, %v; want the key echoed", resp, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("custom decoder ran %d times for one call, want 1", n)
	}
	_, err = kv.Put(ctxT(t), &pb.PutRequest{Key: []byte("refuse")})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "refused by the custom decoder") {
		t.Fatalf("Put with a refusing decoder: %v, want Internal carrying its error", err)
	}
}

// TestMarshalOption: answers are encoded by Options.Marshal when it is set,
// and its error fails the call as protobuf-go's would.
func TestMarshalOption(t *testing.T) {
	var calls atomic.Int32
	cc, _ := startBareServerWith(t, echoKV{}, leangrpc.Options{Marshal: func(b []byte, m proto.Message) ([]byte, error) {
		calls.Add(1)
		if r, ok := m.(*pb.PutResponse); ok && string(r.GetPrevKv().GetKey()) == "refuse" {
			return nil, errors.New("refused by the custom encoder")
		}
		return proto.MarshalOptions{}.MarshalAppend(b, m)
	}})
	kv := pb.NewKVClient(cc)
	resp, err := kv.Put(ctxT(t), &pb.PutRequest{Key: []byte("k1")})
	if err != nil || string(resp.GetPrevKv().GetKey()) != "k1" {
		t.Fatalf("Put = %v, %v; want the key echoed", resp, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("custom encoder ran %d times for one call, want 1", n)
	}
	_, err = kv.Put(ctxT(t), &pb.PutRequest{Key: []byte("refuse")})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "refused by the custom encoder") {
		t.Fatalf("Put with a refusing encoder: %v, want Internal carrying its error", err)
	}
}
