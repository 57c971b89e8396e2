package transport

import (
	"context"
	"testing"
)

// BenchmarkDeliver hands messages to Incoming while a reader drains it, as
// a direct stream does to the node's loop.
func BenchmarkDeliver(b *testing.B) {
	tr := New(2, Options{})
	defer tr.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range tr.Incoming() {
			if m == nil {
				return
			}
		}
	}()
	m := heartbeat(1, 2, 1)
	ctx := context.Background()
	for b.Loop() {
		if err := tr.deliverMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	tr.incoming <- nil
	<-done
}
