package mvcc

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// A snapshot larger than one restore batch streams out and back in whole:
// same hash, same applied index, over a store that held other data.
func TestSnapshotStreamsInBatches(t *testing.T) {
	h := newHarness(t)
	val := strings.Repeat("v", 1000)
	for i := 0; i < 3*restoreBatchBytes/1000; i++ { // three batches' worth
		h.put(fmt.Sprintf("key/%06d", i), val)
	}
	view := h.s.eng.Snapshot()
	defer view.Close()
	size, err := SnapshotSize(view)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := WriteSnapshot(view, &buf)
	if err != nil || n != int64(buf.Len()) || n != size {
		t.Fatalf("WriteSnapshot: %d bytes (buffer %d, SnapshotSize %d), %v", n, buf.Len(), size, err)
	}
	other := newHarness(t)
	other.put("stale", "gone after restore")
	if err := other.s.RestoreFrom(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if other.s.Hash() != h.s.Hash() || other.s.AppliedIndex() != h.s.AppliedIndex() || other.s.Rev() != h.s.Rev() {
		t.Fatalf("restored: hash %x applied %d rev %d; want %x %d %d", other.s.Hash(), other.s.AppliedIndex(),
			other.s.Rev(), h.s.Hash(), h.s.AppliedIndex(), h.s.Rev())
	}
	if _, ok, _ := other.s.eng.Get([]byte("stale")); ok {
		t.Fatal("restore kept a key the snapshot does not have")
	}
}

// A stream cut short fails, and leaves the store at applied index 0 (so a
// replica restarting on a durable engine restores again), never at the
// snapshot's index with part of its data.
func TestSnapshotStreamCutShort(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 2*restoreBatchBytes/1000; i++ {
		h.put(fmt.Sprintf("key/%06d", i), strings.Repeat("v", 1000))
	}
	data, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newHarness(t)
	other.put("a", "1")
	if err := other.s.RestoreFrom(bytes.NewReader(data[:len(data)*3/4])); err == nil {
		t.Fatal("a truncated stream restored")
	}
	if other.s.AppliedIndex() != 0 {
		t.Fatalf("applied index %d after a failed restore, want 0", other.s.AppliedIndex())
	}
	// Restore (whole slice) checks first and changes nothing.
	other2 := newHarness(t)
	other2.put("a", "1")
	before := other2.s.Hash()
	if err := other2.s.Restore(data[:len(data)-1]); err == nil || other2.s.Hash() != before {
		t.Fatalf("Restore of a damaged slice: %v, hash %x (was %x)", err, other2.s.Hash(), before)
	}
}

// TestRecordRoundTrip: records decode to what was encoded, recordSize is
// their length, and extreme integers (negative ones included) survive the
// varint header.
func TestRecordRoundTrip(t *testing.T) {
	for _, kv := range []*mvccpb.KeyValue{
		{Key: []byte("k"), Value: []byte("v"), CreateRevision: 2, ModRevision: 3, Version: 2, Lease: 7},
		{Key: []byte("empty value"), CreateRevision: 1 << 40, ModRevision: 1<<63 - 1, Version: 1},
		{Key: []byte{}, Value: make([]byte, 300), Lease: -1, CreateRevision: -5},
	} {
		for _, tomb := range []bool{false, true} {
			b := appendRecord(nil, kv, tomb)
			if len(b) != recordSize(kv) {
				t.Errorf("%v: record of %d bytes, recordSize %d", kv, len(b), recordSize(kv))
			}
			var got mvccpb.KeyValue
			gotTomb := decodeRecord(b, &got)
			if gotTomb != tomb || !bytes.Equal(got.Key, kv.Key) || !bytes.Equal(got.Value, kv.Value) ||
				got.CreateRevision != kv.CreateRevision || got.ModRevision != kv.ModRevision ||
				got.Version != kv.Version || got.Lease != kv.Lease {
				t.Errorf("decoded %v (tomb %v), want %v (tomb %v)", &got, gotTomb, kv, tomb)
			}
		}
	}
}

// A record in the fixed-width format of earlier builds (kind byte 0 or 1)
// is refused, not misread as varints.
func TestRecordOldFormatRefused(t *testing.T) {
	for _, kind := range []byte{0, 1} {
		old := append([]byte{kind}, make([]byte, 36)...)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("kind %d: old-format record decoded", kind)
				}
			}()
			var kv mvccpb.KeyValue
			decodeRecord(old, &kv)
		}()
	}
}

// lendingWriter lends a fresh buffer of the next size of rooms each time,
// and records whether each write came in place (in the lent buffer) or
// not, and the largest piece written in place.
type lendingWriter struct {
	out      []byte
	rooms    []int
	next     int
	lent     []byte
	inPlace  int
	copied   int
	maxPiece int
}

func (l *lendingWriter) AvailableBuffer() []byte {
	if l.lent == nil {
		l.lent = make([]byte, 0, l.rooms[l.next%len(l.rooms)])
		l.next++
	}
	return l.lent
}

func (l *lendingWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && cap(l.lent) > 0 && &p[0] == &l.lent[:1][0] {
		l.inPlace++
		l.maxPiece = max(l.maxPiece, len(p))
	} else {
		l.copied++
	}
	l.out = append(l.out, p...)
	l.lent = nil
	return len(p), nil
}

// plainWriter is an io.Writer that lends nothing.
type plainWriter struct{ out []byte }

func (w *plainWriter) Write(p []byte) (int, error) {
	w.out = append(w.out, p...)
	return len(p), nil
}

// WriteSnapshot writes the same stream whether it encodes into a buffer the
// writer lends (of any size, even none, and smaller than a pair) or
// through its own, and a lent buffer's pieces stay within snapPieceBytes.
func TestWriteSnapshotIntoLentBuffers(t *testing.T) {
	h := newHarness(t)
	for i := range 3000 {
		h.put(fmt.Sprintf("key/%06d", i), strings.Repeat("v", i%700))
	}
	h.put("huge", strings.Repeat("h", 3*snapPieceBytes+17)) // larger than any piece
	view := h.s.eng.Snapshot()
	defer view.Close()
	size, err := SnapshotSize(view)
	if err != nil {
		t.Fatal(err)
	}
	var plain plainWriter
	if n, err := WriteSnapshot(view, &plain); err != nil || n != size || int64(len(plain.out)) != size {
		t.Fatalf("plain writer: %d bytes (wrote %d, SnapshotSize %d), %v", n, len(plain.out), size, err)
	}
	data, err := h.s.Snapshot() // through a bytes.Buffer, which lends its room
	if err != nil || !bytes.Equal(data, plain.out) {
		t.Fatalf("bytes.Buffer: stream differs from the plain writer's (%d and %d bytes), %v", len(data), len(plain.out), err)
	}
	lent := &lendingWriter{rooms: []int{0, 1, 7, 300, 5000, 70_000, 1 << 20}}
	if n, err := WriteSnapshot(view, lent); err != nil || n != size || !bytes.Equal(lent.out, plain.out) {
		t.Fatalf("lending writer: %d bytes, %v; stream equal to the plain writer's: %v", n, err, bytes.Equal(lent.out, plain.out))
	}
	if lent.inPlace == 0 || lent.maxPiece > snapPieceBytes {
		t.Fatalf("lending writer: %d writes in place (largest %d bytes), %d copied; want some, none over %d",
			lent.inPlace, lent.maxPiece, lent.copied, snapPieceBytes)
	}
	other := newHarness(t)
	if err := other.s.Restore(lent.out); err != nil || other.s.Hash() != h.s.Hash() {
		t.Fatalf("restore of the lent-buffer stream: %v, hash %x want %x", err, other.s.Hash(), h.s.Hash())
	}
}

// summingWriter is a lendingWriter that keeps the checksum of what it got.
type summingWriter struct {
	lendingWriter
	sums int
}

func (s *summingWriter) Checksum() (uint32, int64) {
	s.sums++
	return crc32.Checksum(s.out, castagnoli), int64(len(s.out))
}

// A writer that keeps its own checksum gives the stream its checksum (the
// same stream results), and one whose checksum covers more than the
// stream (it was written to before) is refused, not trusted.
func TestWriteSnapshotTakesTheWritersChecksum(t *testing.T) {
	h := newHarness(t)
	for i := range 500 {
		h.put(fmt.Sprintf("key/%06d", i), strings.Repeat("v", i))
	}
	want, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	view := h.s.eng.Snapshot()
	defer view.Close()
	w := &summingWriter{lendingWriter: lendingWriter{rooms: []int{300, 70_000}}}
	if n, err := WriteSnapshot(view, w); err != nil || n != int64(len(want)) || !bytes.Equal(w.out, want) || w.sums != 1 {
		t.Fatalf("summing writer: %d bytes, %v, %d checksums asked; stream equal: %v", n, err, w.sums, bytes.Equal(w.out, want))
	}
	used := &summingWriter{lendingWriter: lendingWriter{rooms: []int{70_000}, out: []byte("x")}}
	if _, err := WriteSnapshot(view, used); err == nil {
		t.Fatal("a writer whose checksum covers a byte before the stream was trusted")
	}
}
