package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"metastore/core/engine"
)

func testGet(t *testing.T, o Opener) {
	e := o.openT(t)
	mustGet(t, e, "a", nil)
	set(t, e, "a", "1")
	set(t, e, "c", "")
	mustGet(t, e, "a", []byte("1"))
	mustGet(t, e, "b", nil)
	mustGet(t, e, "c", []byte{}) // empty value is present
	mustGet(t, e, "", nil)
	set(t, e, "", "empty key")
	mustGet(t, e, "", []byte("empty key"))
}

func testOverwrite(t *testing.T, o Opener) {
	e := o.openT(t)
	set(t, e, "k", "first")
	set(t, e, "k", "second, longer")
	mustGet(t, e, "k", []byte("second, longer"))
	set(t, e, "k", "")
	mustGet(t, e, "k", []byte{})
	expectScan(t, e, nil, nil, pairs("k", ""))
}

func testDelete(t *testing.T, o Opener) {
	e := o.openT(t)
	set(t, e, "a", "1")
	set(t, e, "b", "2")
	write(t, e, kv{key: []byte("a")})
	mustGet(t, e, "a", nil)
	mustGet(t, e, "b", []byte("2"))
	write(t, e, kv{key: []byte("missing")}) // deleting nothing is fine
	expectScan(t, e, nil, nil, pairs("b", "2"))
	set(t, e, "a", "again")
	mustGet(t, e, "a", []byte("again"))
}

func testBatchOrder(t *testing.T, o Opener) {
	e := o.openT(t)
	set(t, e, "x", "old")
	b := e.NewBatch()
	b.Set([]byte("setdel"), []byte("1"))
	b.Delete([]byte("setdel"))
	b.Delete([]byte("x"))
	b.Set([]byte("x"), []byte("new"))
	b.Set([]byte("twice"), []byte("1"))
	b.Set([]byte("twice"), []byte("2"))
	if b.Len() != 6 {
		t.Fatalf("Len = %d, want 6", b.Len())
	}
	// Nothing shows before Write.
	mustGet(t, e, "twice", nil)
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, "setdel", nil)
	mustGet(t, e, "x", []byte("new"))
	mustGet(t, e, "twice", []byte("2"))
	expectScan(t, e, nil, nil, pairs("twice", "2", "x", "new"))
}

func testBatchReset(t *testing.T, o Opener) {
	e := o.openT(t)
	b := e.NewBatch()
	if b.Len() != 0 {
		t.Fatalf("new batch Len = %d", b.Len())
	}
	b.Set([]byte("discarded"), []byte("1"))
	b.Reset()
	if b.Len() != 0 {
		t.Fatalf("Len after Reset = %d", b.Len())
	}
	b.Set([]byte("a"), []byte("1"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.Set([]byte("b"), []byte("2"))
	b.Delete([]byte("a"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	// Earlier content of a reused batch is neither replayed nor corrupted.
	expectScan(t, e, nil, nil, pairs("b", "2"))
	b.Reset()
	if err := e.Write(b); err != nil { // an empty batch is a no-op
		t.Fatal(err)
	}
	expectScan(t, e, nil, nil, pairs("b", "2"))
	// Reusing the batch for bigger values must not disturb stored ones.
	b.Set([]byte("c"), bytes.Repeat([]byte("z"), 4096))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, "b", []byte("2"))
}

// testBatchAtomicConcurrent writes batches that keep keys a and b equal
// while another goroutine reads them through snapshots: a torn batch, or a
// data race under -race, fails the test.
func testBatchAtomicConcurrent(t *testing.T, o Opener) {
	e := o.openT(t)
	const rounds = 300
	write(t, e, kv{[]byte("a"), []byte("0")}, kv{[]byte("b"), []byte("0")})
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			s := e.Snapshot()
			va, _, err1 := s.Get([]byte("a"))
			vb, _, err2 := s.Get([]byte("b"))
			var got []kv
			it := s.NewIter(nil, nil)
			for ok := it.First(); ok; ok = it.Next() {
				got = append(got, kv{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
			}
			it.Close()
			s.Close()
			if err := errors.Join(err1, err2); err != nil {
				errc <- err
				return
			}
			if !bytes.Equal(va, vb) || len(got) != 2 || !bytes.Equal(got[0].value, got[1].value) {
				errc <- fmt.Errorf("torn batch: Get a=%q b=%q, scan %v", va, vb, got)
				return
			}
		}
	}()
	for i := 1; i <= rounds; i++ {
		v := []byte(fmt.Sprint(i))
		write(t, e, kv{[]byte("a"), v}, kv{[]byte("b"), v})
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}

func testNoAliasing(t *testing.T, o Opener) {
	e := o.openT(t)
	key, val := []byte("key"), []byte("value")
	b := e.NewBatch()
	b.Set(key, val)
	key[0], val[0] = 'X', 'X' // after Set, before Write
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, "key", []byte("value"))
	mustGet(t, e, "Xey", nil)

	key, val = []byte("k2"), []byte("v2")
	write(t, e, kv{key, val})
	key[0], val[0] = 'X', 'X' // after Write
	mustGet(t, e, "k2", []byte("v2"))

	delKey := []byte("k2")
	b = e.NewBatch()
	b.Delete(delKey)
	delKey[0] = 'k' + 1 // "l2": the recorded delete must still target k2
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, "k2", nil)

	got, _, err := e.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	mustGet(t, e, "key", []byte("value"))

	s := e.Snapshot()
	defer s.Close()
	got, _, err = s.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	mustGet(t, s, "key", []byte("value"))
	mustGet(t, e, "key", []byte("value"))
}

func testClosed(t *testing.T, o Opener) {
	e := o(t)
	set(t, e, "a", "1")
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := e.Get([]byte("a")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Get after Close: err = %v, want ErrClosed", err)
	}
	b := e.NewBatch()
	b.Set([]byte("b"), []byte("2"))
	if err := e.Write(b); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Write after Close: err = %v, want ErrClosed", err)
	}
}

func testLargeValue(t *testing.T, o Opener) {
	e := o.openT(t)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	write(t, e, kv{[]byte("big"), big}, kv{[]byte("small"), []byte("s")})
	mustGet(t, e, "big", big)
	got := scan(t, e, nil, nil, false)
	if len(got) != 2 || !bytes.Equal(got[0].value, big) {
		t.Fatalf("scan did not return the 1 MiB value intact")
	}
	big2 := bytes.Repeat([]byte{0xab}, 1<<20+1)
	write(t, e, kv{[]byte("big"), big2})
	mustGet(t, e, "big", big2)
}
