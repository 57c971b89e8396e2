package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Snapshot format: magic, then every engine pair in key order as
// <uvarint len><key><uvarint len><value>, then the CRC-32C of everything
// before it (4 bytes, big-endian).
var snapMagic = []byte("MSMVCC1\n")

var errBadSnapshot = errors.New("mvcc: malformed snapshot")

// Snapshot serializes the whole state (including applied index) for a raft
// snapshot.
func (s *Store) Snapshot() ([]byte, error) {
	out := append([]byte(nil), snapMagic...)
	it := s.eng.NewIter(nil, nil)
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		out = binary.AppendUvarint(out, uint64(len(it.Key())))
		out = append(out, it.Key()...)
		out = binary.AppendUvarint(out, uint64(len(it.Value())))
		out = append(out, it.Value()...)
	}
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// Restore replaces the store's state with bytes from Snapshot: it checks
// them whole, replaces the engine's contents in one batch and rebuilds the
// in-memory indexes. On a malformed snapshot nothing changes.
func (s *Store) Restore(data []byte) error {
	pairs, err := parseSnapshot(data)
	if err != nil {
		return err
	}
	b := s.eng.NewBatch()
	it := s.eng.NewIter(nil, nil)
	for ok := it.First(); ok; ok = it.Next() {
		b.Delete(it.Key())
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("mvcc: restore: %w", err)
	}
	for i := 0; i < len(pairs); i += 2 {
		b.Set(pairs[i], pairs[i+1])
	}
	if err := s.eng.Write(b); err != nil {
		return fmt.Errorf("mvcc: restore: %w", err)
	}
	return s.load()
}

// parseSnapshot returns the pairs as key, value, key, value, ... aliasing
// data.
func parseSnapshot(data []byte) ([][]byte, error) {
	if len(data) < len(snapMagic)+4 || !bytes.Equal(data[:len(snapMagic)], snapMagic) {
		return nil, errBadSnapshot
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	var pairs [][]byte
	rest := body[len(snapMagic):]
	for len(rest) > 0 {
		for range 2 {
			n, w := binary.Uvarint(rest)
			if w <= 0 || n > uint64(len(rest)-w) {
				return nil, errBadSnapshot
			}
			pairs = append(pairs, rest[w:w+int(n)])
			rest = rest[w+int(n):]
		}
	}
	return pairs, nil
}
