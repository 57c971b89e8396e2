package leangrpc

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
)

// TestStreamContext checks the call context a stream holds in itself:
// grpc finds the stream in it (the key was learned, not left nil), other
// values come from the parent, and a context derived from it ends with the
// call, with the call's own cause.
func TestStreamContext(t *testing.T) {
	if transportStreamKey == nil {
		t.Fatal("the ServerTransportStream key was not learned: every call pays a context.WithValue")
	}
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	st := &stream{cancel: cancel}
	st.sctx = streamCtx{parent, st}
	ctx := context.Context(&st.sctx)
	if got := grpc.ServerTransportStreamFromContext(ctx); got != st {
		t.Fatalf("transport stream %v, want the stream", got)
	}
	if got := ctx.Value(key{}); got != "v" {
		t.Fatalf("parent's value %v", got)
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	st.cancel()
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Fatalf("after the call's cancel: child %v, cause %v", child.Err(), context.Cause(ctx))
	}
}
