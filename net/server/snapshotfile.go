package server

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
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

// sendSnapshot streams img in chunks with RemainingBytes counting down,
// then its sha256 as a last blob, as etcd's server does.
func sendSnapshot(stream grpc.ServerStreamingServer[pb.SnapshotResponse], img []byte, hdr *pb.ResponseHeader) error {
	h := sha256.New()
	for sent := 0; sent < len(img); {
		n := min(snapshotChunkBytes, len(img)-sent)
		blob := img[sent : sent+n]
		sent += n
		h.Write(blob)
		resp := &pb.SnapshotResponse{Header: hdr, RemainingBytes: uint64(len(img) - sent), Blob: blob, Version: Version}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return stream.Send(&pb.SnapshotResponse{Header: hdr, Blob: h.Sum(nil), Version: Version})
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }
