package server

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"metastore/core/engine"
	"metastore/core/mvcc"
)

// A snapshot file, as `etcdctl snapshot save` stores it, is the database
// image followed by the sha256 of that image; etcdctl accepts the file only
// when its size modulo 512 is 32 (bbolt images are whole pages). Our image
// is therefore:
//
//	"MSSNAP01" | uint64 big-endian length n | n bytes of mvcc.Store.Snapshot | zero padding to a multiple of 512
var snapFileMagic = []byte("MSSNAP01")

const snapFileAlign = 512

// snapshotChunkBytes is the blob size of each Snapshot response (etcd: 32 KiB).
const snapshotChunkBytes = 32 * 1024

// ErrBadSnapshotFile is returned by DecodeSnapshotFile.
var ErrBadSnapshotFile = errors.New("server: not a MetaStore snapshot file")

// EncodeSnapshotFile frames a store snapshot as the image Snapshot streams
// (without the trailing sha256).
func EncodeSnapshotFile(data []byte) []byte {
	n := len(snapFileMagic) + 8 + len(data)
	n = (n + snapFileAlign - 1) / snapFileAlign * snapFileAlign
	out := make([]byte, 0, n)
	out = append(out, snapFileMagic...)
	out = binary.BigEndian.AppendUint64(out, uint64(len(data)))
	out = append(out, data...)
	return out[:n] // the tail is already zero
}

// DecodeSnapshotFile checks a saved snapshot file (image plus sha256) and
// returns the store snapshot inside it, for mvcc.Store.Restore.
func DecodeSnapshotFile(file []byte) ([]byte, error) {
	if len(file) < sha256.Size {
		return nil, ErrBadSnapshotFile
	}
	img, sum := file[:len(file)-sha256.Size], file[len(file)-sha256.Size:]
	if got := sha256.Sum256(img); string(got[:]) != string(sum) {
		return nil, errors.New("server: snapshot sha256 mismatch")
	}
	h := len(snapFileMagic) + 8
	if len(img) < h || string(img[:len(snapFileMagic)]) != string(snapFileMagic) {
		return nil, ErrBadSnapshotFile
	}
	n := binary.BigEndian.Uint64(img[len(snapFileMagic):h])
	if n > uint64(len(img)-h) {
		return nil, ErrBadSnapshotFile
	}
	return img[h : h+int(n)], nil
}

// streamSnapshot streams the image of view in snapshotChunkBytes chunks
// with RemainingBytes counting down, then its sha256 as a last blob, as
// etcd's server does. The image is never whole in memory: a first pass over
// view measures it (the framing announces the length), a second writes it.
func streamSnapshot(stream grpc.ServerStreamingServer[pb.SnapshotResponse], view engine.Reader, hdr *pb.ResponseHeader) error {
	n, err := mvcc.SnapshotSize(view)
	if err != nil {
		return err
	}
	total := imageSize(n)
	w := &chunkSender{stream: stream, hdr: hdr, remaining: total, sum: sha256.New(),
		buf: make([]byte, 0, snapshotChunkBytes)}
	w.Write(snapFileMagic)
	w.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	if _, err := mvcc.WriteSnapshot(view, w); err != nil {
		return err
	}
	if w.written != int64(len(snapFileMagic))+8+n {
		return fmt.Errorf("server: snapshot changed size while streamed (%d bytes, measured %d)", w.written, n)
	}
	w.Write(make([]byte, total-w.written)) // zero padding to whole pages
	if err := w.flush(); err != nil {
		return err
	}
	return stream.Send(&pb.SnapshotResponse{Header: hdr, Blob: w.sum.Sum(nil), Version: Version})
}

// imageSize is the framed image length for a store snapshot of n bytes.
func imageSize(n int64) int64 {
	h := int64(len(snapFileMagic)) + 8 + n
	return (h + snapFileAlign - 1) / snapFileAlign * snapFileAlign
}

// chunkSender is an io.Writer that sends what it is given as Snapshot
// responses of snapshotChunkBytes, hashing them.
type chunkSender struct {
	stream    grpc.ServerStreamingServer[pb.SnapshotResponse]
	hdr       *pb.ResponseHeader
	remaining int64
	written   int64
	sum       hash.Hash
	buf       []byte
	err       error
}

func (w *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	w.written += int64(n)
	for len(p) > 0 && w.err == nil {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			w.err = w.flush()
		}
	}
	return n, w.err
}

func (w *chunkSender) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	w.sum.Write(w.buf)
	w.remaining -= int64(len(w.buf))
	err := w.stream.Send(&pb.SnapshotResponse{Header: w.hdr, RemainingBytes: uint64(w.remaining), Blob: w.buf, Version: Version})
	// NB: gRPC forbids touching a sent message again (stats handlers may
	// read it late), so each chunk gets a fresh buffer.
	w.buf = make([]byte, 0, snapshotChunkBytes)
	return err
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }
