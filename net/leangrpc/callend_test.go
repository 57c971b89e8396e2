package leangrpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// doneNotifier is what net/server's waits look for in a call's context.
type doneNotifier interface {
	NotifyDone(ch chan<- struct{}) bool
	StopNotify(ch chan<- struct{})
}

// waitKV's Range waits for its context's end in the way the request's key
// names, and reports the error it saw; its Put starts such a wait and
// answers at once, so the wait outlives the call.
type waitKV struct {
	pb.UnimplementedKVServer
	waiting chan struct{}
	ended   chan error
}

func waitFor(ctx context.Context, how string) error {
	switch how {
	case "done":
		<-ctx.Done()
	case "notify":
		dn, ok := ctx.(doneNotifier)
		if !ok {
			return fmt.Errorf("the call's context %T is no doneNotifier", ctx)
		}
		ch := make(chan struct{}, 1)
		if !dn.NotifyDone(ch) {
			return errors.New("NotifyDone refused")
		}
		<-ch
		dn.StopNotify(ch)
	case "derived":
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		<-child.Done()
		if child.Err() == nil {
			return errors.New("derived context ended without an error")
		}
	case "afterfunc":
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		<-ran
	default:
		return fmt.Errorf("unknown wait %q", how)
	}
	return ctx.Err()
}

func (w *waitKV) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	w.waiting <- struct{}{}
	err := waitFor(ctx, string(req.Key))
	w.ended <- err
	return nil, err
}

func (w *waitKV) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	go func() { w.ended <- waitFor(ctx, string(req.Key)) }()
	return &pb.PutResponse{}, nil
}

// TestCallContextEnds checks that a handler waiting on its call's context,
// in each way a handler can (Done, the channel net/server registers, a
// derived context, AfterFunc), is woken by each end a call can have: the
// client's RST_STREAM, grpc-timeout, the connection's close, and the
// call's own end (a goroutine the handler left behind).
func TestCallContextEnds(t *testing.T) {
	for _, how := range []string{"done", "notify", "derived", "afterfunc"} {
		t.Run(how, func(t *testing.T) {
			w := &waitKV{waiting: make(chan struct{}, 1), ended: make(chan error, 1)}
			cc, _ := startBareServer(t, w)
			kv := pb.NewKVClient(cc)
			key := []byte(how)

			// RST_STREAM.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := kv.Range(ctx, &pb.RangeRequest{Key: key})
				done <- err
			}()
			<-w.waiting
			cancel()
			if err := <-w.ended; !errors.Is(err, context.Canceled) {
				t.Fatalf("after RST_STREAM: %v", err)
			}
			if err := <-done; status.Code(err) != codes.Canceled {
				t.Fatalf("client after cancel: %v", err)
			}

			// grpc-timeout: the server's timer or the client's RST_STREAM
			// ends it, whichever comes first.
			ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: key})
			cancel()
			<-w.waiting
			if err := <-w.ended; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("past the deadline: %v", err)
			}
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("client past its deadline: %v", err)
			}

			// The call's end.
			if _, err := kv.Put(context.Background(), &pb.PutRequest{Key: key}); err != nil {
				t.Fatal(err)
			}
			if err := <-w.ended; !errors.Is(err, context.Canceled) {
				t.Fatalf("after the call's end: %v", err)
			}

			// The connection's close.
			go func() {
				_, err := kv.Range(context.Background(), &pb.RangeRequest{Key: key})
				done <- err
			}()
			<-w.waiting
			cc.Close()
			if err := <-w.ended; !errors.Is(err, context.Canceled) {
				t.Fatalf("after the connection closed: %v", err)
			}
			<-done
		})
	}
}
