package rocksdb

import (
	"fmt"
	"strings"

	"github.com/linxGnu/grocksdb"
)

// Options tunes the RocksDB instance under a member. The zero value of a
// field means its default (see DefaultOptions); Open fills them in.
type Options struct {
	// BlockCacheBytes is the LRU cache of uncompressed data blocks.
	// Metadata reads are small and random, so the working set is what must
	// fit; everything else is read from the page cache. (Index and filter
	// blocks are held by the open tables, outside this cache.)
	BlockCacheBytes uint64 `yaml:"block-cache-bytes"`
	// WriteBufferBytes is the size of one memtable. Two may exist at once
	// (one flushing), so resident memory grows by up to twice this.
	WriteBufferBytes uint64 `yaml:"write-buffer-bytes"`
	// Compression of SST blocks: none, snappy, lz4, zstd, or lz4+zstd (lz4
	// for the upper levels, zstd for the bottommost one, where most data
	// lives and is rewritten least).
	Compression string `yaml:"compression"`
	// Sync makes every apply batch fsync RocksDB's WAL before Write returns.
	// Off by default: the raft WAL is synced and replays whatever a machine
	// crash took from RocksDB (see the package documentation).
	Sync bool `yaml:"sync"`
	// MaxOpenFiles bounds the table cache (-1: unlimited), and with it the
	// memory of the open tables' index and filter blocks.
	MaxOpenFiles int `yaml:"max-open-files"`
	// BackgroundJobs is the number of flush and compaction threads.
	BackgroundJobs int `yaml:"background-jobs"`
}

// DefaultOptions suit a metadata store: small keys and values, random
// point reads on revision keys, and a footprint that leaves memory to the
// MVCC key index (which holds every key in RAM).
func DefaultOptions() Options {
	return Options{
		BlockCacheBytes:  128 << 20,
		WriteBufferBytes: 64 << 20,
		Compression:      "lz4",
		MaxOpenFiles:     1024,
		BackgroundJobs:   2,
	}
}

// withDefaults fills the zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.BlockCacheBytes == 0 {
		o.BlockCacheBytes = d.BlockCacheBytes
	}
	if o.WriteBufferBytes == 0 {
		o.WriteBufferBytes = d.WriteBufferBytes
	}
	if o.Compression == "" {
		o.Compression = d.Compression
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = d.MaxOpenFiles
	}
	if o.BackgroundJobs == 0 {
		o.BackgroundJobs = d.BackgroundJobs
	}
	return o
}

// Validate reports an option Open would reject.
func (o Options) Validate() error {
	if _, _, err := compressionTypes(o.withDefaults().Compression); err != nil {
		return err
	}
	if o.MaxOpenFiles < -1 {
		return fmt.Errorf("rocksdb: max-open-files %d: want -1 (unlimited) or a positive number", o.MaxOpenFiles)
	}
	if o.BackgroundJobs < 0 {
		return fmt.Errorf("rocksdb: background-jobs %d is negative", o.BackgroundJobs)
	}
	return nil
}

// Compressions lists the accepted Compression values.
var Compressions = []string{"none", "snappy", "lz4", "zstd", "lz4+zstd"}

// compressionTypes maps a Compression name to the type for all levels and
// the one for the bottommost level.
func compressionTypes(name string) (all, bottom grocksdb.CompressionType, err error) {
	switch strings.ToLower(name) {
	case "none":
		return grocksdb.NoCompression, grocksdb.NoCompression, nil
	case "snappy":
		return grocksdb.SnappyCompression, grocksdb.SnappyCompression, nil
	case "lz4":
		return grocksdb.LZ4Compression, grocksdb.LZ4Compression, nil
	case "zstd":
		return grocksdb.ZSTDCompression, grocksdb.ZSTDCompression, nil
	case "lz4+zstd":
		return grocksdb.LZ4Compression, grocksdb.ZSTDCompression, nil
	}
	return 0, 0, fmt.Errorf("rocksdb: unknown compression %q (want one of %s)", name, strings.Join(Compressions, ", "))
}

// memtableHints gives the memtable's skip list an insert position (a
// splice) per 8-byte key prefix, kept from the previous insert with that
// prefix. The store's apply batch writes to three places in the key space:
// its revision record (r/<main><sub>, ascending), the applied index
// (m/applied, overwritten) and its dedup record (d/<request id>, ascending
// per proposer) with the prune of the oldest one, 100,000 IDs back. Without
// hints each insert in a batch searched the skip list from its top; with
// one splice per prefix each lands next to the previous insert of its kind.
// Eight bytes (a family's two bytes and the top six of its 64-bit number)
// put the new and the pruned dedup IDs in different 65,536-ID prefixes, so
// the two do not move each other's splice. Measured on batches shaped so
// (revision record of 280 bytes, applied index, dedup record and prune):
// 11.4 µs of CPU per batch without hints, 9.2-9.4 with 2-byte prefixes,
// 6.9-7.2 with 8. Shorter keys (m/rev) insert without a hint. The price is
// paid by keys under random prefixes, lease records (l/<id>, IDs drawn at
// random): each new prefix costs a splice in the memtable (about 240 bytes)
// and an entry in a hint map on the heap, and gains nothing. Writes of one
// such key each: 3.3 µs of CPU and 53 memtable bytes without hints, 5.1
// and 295 with them; a lease write is rare beside puts, and the map is
// bounded by what one memtable holds. The C API has no setter for this
// option, only the options-string parser.
const memtableHints = "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.8"
