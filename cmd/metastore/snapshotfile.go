package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"

	"metastore/core/mvcc"
	"metastore/engines/memory"
	"metastore/net/server"
)

// savedSnapshot is what restore and status need from a file that
// `etcdctl snapshot save` wrote from a MetaStore member. Reading it is the
// one place that knows the file's framing (net/server/snapshotfile.go:
// image, then the sha256 of the image), so a change of framing changes
// only readSavedSnapshot.
type savedSnapshot struct {
	// Data is the store snapshot inside, for mvcc.Store.Restore and
	// core.Restore.
	Data []byte
	// ImageBytes is the size of the image the member streamed (the file
	// without its sha256 trailer): etcd's "total size".
	ImageBytes int64
}

// readSavedSnapshot reads and checks a saved snapshot file: the sha256
// trailer against the image, then the framing. The store snapshot's own
// CRC is checked by whoever restores Data (openSnapshotStore).
func readSavedSnapshot(path string) (savedSnapshot, error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return savedSnapshot{}, err
	}
	if len(file) < sha256.Size {
		return savedSnapshot{}, fmt.Errorf("snapshot %s is truncated: %d bytes, less than its sha256 trailer", path, len(file))
	}
	data, err := server.DecodeSnapshotFile(file)
	switch {
	case errors.Is(err, server.ErrBadSnapshotFile):
		return savedSnapshot{}, fmt.Errorf("%s is not a MetaStore snapshot (its sha256 trailer is intact, its framing is not; "+
			"a snapshot of etcd itself, a bbolt file, cannot be restored by MetaStore): %w", path, err)
	case err != nil:
		return savedSnapshot{}, fmt.Errorf("snapshot %s is corrupt or truncated: the sha256 of its contents does not match "+
			"its last %d bytes (%w)", path, sha256.Size, err)
	}
	return savedSnapshot{Data: data, ImageBytes: int64(len(file) - sha256.Size)}, nil
}

// openSnapshotStore loads a store snapshot into a store on a memory
// engine, checking the store image's own checksum.
func openSnapshotStore(path string, data []byte) (*mvcc.Store, error) {
	st, err := mvcc.Open(memory.New())
	if err != nil {
		return nil, err
	}
	if err := st.Restore(data); err != nil {
		return nil, fmt.Errorf("snapshot %s: the store image inside is damaged: %w", path, err)
	}
	return st, nil
}
