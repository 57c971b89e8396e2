package mvcc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"metastore/core/engine"
)

// Snapshot format: magic, then every engine pair in key order as
// <uvarint len><key><uvarint len><value>, then the CRC-32C of everything
// before it (4 bytes, big-endian). A pair takes at least two bytes, so a
// reader that finds exactly four bytes left has reached the checksum.
var snapMagic = []byte("MSMVCC1\n")

var errBadSnapshot = errors.New("mvcc: malformed snapshot")

// maxSnapshotField bounds a key or value length read from a snapshot, so a
// damaged length cannot make Restore allocate without limit.
const maxSnapshotField = 1 << 30

// restoreBatchBytes is how much a restore writes per engine batch: memory
// stays bounded however large the snapshot.
const restoreBatchBytes = 4 << 20

// WriteSnapshot streams every pair of view, in key order, to w in the
// snapshot format and returns the bytes written. It only reads view, so it
// may run on any goroutine: take view (engine.Snapshot) on the store's
// owner, at the applied index the snapshot stands for, and stream it off
// the owner's loop. It writes w in pieces of at most snapPieceBytes; given
// a BufferedWriter it encodes the pieces straight into w's buffer.
func WriteSnapshot(view engine.Reader, w io.Writer) (int64, error) {
	bw, ok := w.(BufferedWriter)
	if !ok {
		b := bufio.NewWriterSize(w, snapPieceBytes)
		bw = b
		w = flushingWriter{b}
	}
	sw := &snapStreamWriter{w: bw}
	cw, summing := w.(ChecksummingWriter)
	if !summing {
		// Taken over whole pieces, not over each small field.
		sw.crc = crc32.New(castagnoli)
	}
	sw.piece = sw.next()
	sw.piece = append(sw.piece, snapMagic...)
	it := view.NewIter(nil, nil)
	for ok := it.First(); ok && sw.err == nil; ok = it.Next() {
		sw.add(it.Key(), it.Value())
	}
	if err := it.Close(); err != nil {
		return sw.n, fmt.Errorf("mvcc: snapshot: %w", err)
	}
	sw.emit()
	if sw.err != nil {
		return sw.n, sw.err
	}
	var sum uint32
	if summing {
		var covered int64
		if sum, covered = cw.Checksum(); covered != sw.n {
			return sw.n, fmt.Errorf("mvcc: snapshot: the writer's checksum covers %d bytes, the stream is %d", covered, sw.n)
		}
	} else {
		sum = sw.crc.Sum32()
	}
	n, err := w.Write(binary.BigEndian.AppendUint32(nil, sum))
	return sw.n + int64(n), err
}

// ChecksummingWriter is a writer that keeps the CRC-32C (Castagnoli) of
// what it was given: WriteSnapshot takes the stream's checksum from it
// rather than computing its own. It must cover exactly the stream: give
// WriteSnapshot such a writer before anything else was written to it.
type ChecksummingWriter interface {
	io.Writer
	// Checksum returns the CRC-32C of the bytes written so far and their
	// count.
	Checksum() (uint32, int64)
}

// BufferedWriter is a writer that lends its buffer's free room, as
// bufio.Writer does: bytes appended to AvailableBuffer's slice and passed
// to Write are taken in place, not copied.
type BufferedWriter interface {
	io.Writer
	AvailableBuffer() []byte
}

// snapPieceBytes bounds the pieces WriteSnapshot writes: a writer that
// does something per write (the replica yields the processor) gets it
// every 64 KiB.
const snapPieceBytes = 64 << 10

// flushingWriter flushes the bufio.Writer WriteSnapshot wrapped a plain
// writer in before the last write: the checksum goes after the pieces.
type flushingWriter struct{ b *bufio.Writer }

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.b.Write(p)
	if err == nil {
		err = f.b.Flush()
	}
	return n, err
}

// snapStreamWriter encodes pairs into pieces of w's buffer, counting what
// it writes and checksumming it (unless w does: crc nil).
type snapStreamWriter struct {
	w     BufferedWriter
	crc   hash.Hash32
	n     int64
	err   error
	piece []byte // the piece being filled, in w's buffer
}

// next returns the room for the next piece.
func (s *snapStreamWriter) next() []byte {
	b := s.w.AvailableBuffer()
	return b[:0:min(cap(b), snapPieceBytes)]
}

// add appends one pair, emitting the piece first when the pair does not
// fit in it.
func (s *snapStreamWriter) add(k, v []byte) {
	need := uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	if len(s.piece)+need > cap(s.piece) {
		s.emit()
		if need > cap(s.piece) {
			// Larger than the room w lends now: written piecewise, copied.
			s.write(binary.AppendUvarint(s.piece, uint64(len(k))))
			s.write(k)
			s.write(binary.AppendUvarint(s.next(), uint64(len(v))))
			s.write(v)
			s.piece = s.next()
			return
		}
	}
	s.piece = binary.AppendUvarint(s.piece, uint64(len(k)))
	s.piece = append(s.piece, k...)
	s.piece = binary.AppendUvarint(s.piece, uint64(len(v)))
	s.piece = append(s.piece, v...)
}

// emit writes the piece being filled and starts the next.
func (s *snapStreamWriter) emit() {
	if len(s.piece) > 0 {
		s.write(s.piece)
	}
	s.piece = s.next()
}

func (s *snapStreamWriter) write(p []byte) {
	if s.err != nil {
		return
	}
	if s.crc != nil {
		s.crc.Write(p)
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	s.err = err
}

// Snapshot serializes the whole state (including applied index) into one
// slice: for tests and small stores. The replica streams with
// WriteSnapshot instead.
func (s *Store) Snapshot() ([]byte, error) {
	if s.grouping {
		return nil, errors.New("mvcc: snapshot inside an apply group, whose applied index the engine does not hold yet")
	}
	var buf bytes.Buffer
	view := s.eng.Snapshot()
	defer view.Close()
	if _, err := WriteSnapshot(view, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Restore replaces the store's state with bytes from Snapshot. It checks
// them whole first, so on a malformed snapshot nothing changes.
func (s *Store) Restore(data []byte) error {
	if len(data) < len(snapMagic)+4 || !bytes.Equal(data[:len(snapMagic)], snapMagic) {
		return errBadSnapshot
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	return s.RestoreFrom(bytes.NewReader(data))
}

// RestoreFrom replaces the store's state with a snapshot stream, reading
// and writing it in bounded batches (restoreBatchBytes), and rebuilds the
// in-memory indexes. The caller checks the stream's integrity beforehand
// (the replica's snapshot file has its own checksum): the stream's own
// checksum is verified only at its end, after the engine was rewritten.
//
// The applied index is removed in the first batch and written in the last,
// so a crash in the middle leaves a durable engine at applied index 0, which
// the replica restores again on restart. On an error the engine holds part
// of the snapshot and the store must be restored again or discarded.
func (s *Store) RestoreFrom(r io.Reader) error {
	if err := s.restoreFrom(r); err != nil {
		_ = s.load()
		return err
	}
	return s.load()
}

func (s *Store) restoreFrom(r io.Reader) error {
	sr := &snapReader{br: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	magic := make([]byte, len(snapMagic))
	if err := sr.readFull(magic); err != nil || !bytes.Equal(magic, snapMagic) {
		return errBadSnapshot
	}
	b := s.eng.NewBatch()
	size := 0
	flush := func() error {
		if err := s.eng.Write(b); err != nil {
			return fmt.Errorf("mvcc: restore: %w", err)
		}
		b.Reset()
		size = 0
		return nil
	}
	// Clear the engine, the applied index first of all.
	b.Delete(keyApplied)
	it := s.eng.NewIter(nil, nil)
	for ok := it.First(); ok; ok = it.Next() {
		b.Delete(it.Key())
		if size += len(it.Key()); size >= restoreBatchBytes {
			if err := flush(); err != nil {
				it.Close()
				return err
			}
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("mvcc: restore: %w", err)
	}
	var applied []byte
	var key, val []byte
	for {
		more, err := sr.morePairs()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if key, err = sr.field(key); err != nil {
			return err
		}
		if val, err = sr.field(val); err != nil {
			return err
		}
		if bytes.Equal(key, keyApplied) {
			applied = bytes.Clone(val)
			continue
		}
		b.Set(key, val) // Set copies
		if size += len(key) + len(val); size >= restoreBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	sum := sr.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(sr.br, tail[:]); err != nil || binary.BigEndian.Uint32(tail[:]) != sum {
		return fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	if applied != nil {
		b.Set(keyApplied, applied)
	}
	return flush()
}

// snapReader reads a snapshot stream, checksumming what it consumes.
type snapReader struct {
	br  *bufio.Reader
	crc hash.Hash32
	one [1]byte
}

func (r *snapReader) readFull(p []byte) error {
	if _, err := io.ReadFull(r.br, p); err != nil {
		return errBadSnapshot
	}
	r.crc.Write(p)
	return nil
}

func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, errBadSnapshot
	}
	r.one[0] = c
	r.crc.Write(r.one[:])
	return c, nil
}

// morePairs reports whether a pair follows (false: only the checksum is
// left).
func (r *snapReader) morePairs() (bool, error) {
	p, err := r.br.Peek(5)
	switch {
	case len(p) == 5:
		return true, nil
	case len(p) == 4 && errors.Is(err, io.EOF):
		return false, nil
	default:
		return false, errBadSnapshot
	}
}

// field reads one length-prefixed field into buf's storage.
func (r *snapReader) field(buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxSnapshotField {
		return nil, errBadSnapshot
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	return buf, r.readFull(buf)
}

// SnapshotSize returns the length of the stream WriteSnapshot would write
// for view, walking it without copying: a caller that must announce the
// length first (etcd's snapshot framing) streams in two passes instead of
// buffering.
func SnapshotSize(view engine.Reader) (int64, error) {
	n := int64(len(snapMagic)) + 4
	it := view.NewIter(nil, nil)
	var tmp [binary.MaxVarintLen64]byte
	for ok := it.First(); ok; ok = it.Next() {
		k, v := len(it.Key()), len(it.Value())
		n += int64(binary.PutUvarint(tmp[:], uint64(k)) + k + binary.PutUvarint(tmp[:], uint64(v)) + v)
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("mvcc: snapshot size: %w", err)
	}
	return n, nil
}
