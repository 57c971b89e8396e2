package rocksdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/linxGnu/grocksdb"

	"metastore/core/engine"
)

var errForeignBatch = errors.New("rocksdb: batch was not created by a rocksdb engine")

// Engine is an engine.Engine on one RocksDB database directory. It is safe
// for concurrent use: any number of goroutines may read, write, iterate and
// take snapshots at once (RocksDB itself is thread-safe). Close waits for
// operations in flight and then releases every iterator and snapshot still
// open, so a forgotten view can never touch a closed database.
type Engine struct {
	// mu is held shared by every operation that touches the database and
	// exclusively by Close.
	mu     sync.RWMutex
	closed bool
	db     *grocksdb.DB
	dir    string

	opts *grocksdb.Options // the database's, and the default column family's
	// revOpts are the revisions column family's: the same but for a larger
	// memtable (see revisionKeys).
	revOpts *grocksdb.Options
	// meta is the default column family, revs the one holding the keys in
	// [revLower, revUpper): see revisionKeys.
	meta, revs *grocksdb.ColumnFamilyHandle
	table      *grocksdb.BlockBasedTableOptions
	cache      *grocksdb.Cache
	ro         *grocksdb.ReadOptions // reads of the current state
	// roNoFill is ro without filling the block cache: most point reads
	// use it (see Get).
	roNoFill *grocksdb.ReadOptions
	wo       *grocksdb.WriteOptions

	// views are the open iterators and snapshots, released by Close.
	viewsMu sync.Mutex
	views   map[view]struct{}
	// snapMu guards the snapshots' reference counts and states.
	snapMu sync.Mutex

	live liveSize // LiveBytes
}

// view is an iterator or snapshot that Close must release first.
type view interface{ release() }

var (
	_ engine.Engine       = (*Engine)(nil)
	_ engine.Syncer       = (*Engine)(nil)
	_ engine.WriteFlusher = (*Engine)(nil)

	_ interface{ LiveBytes() int64 } = (*Engine)(nil) // net/server.SizedEngine defers to it
)

// Open opens (creating it if missing) the database in dir.
func Open(dir string, o Options) (*Engine, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("rocksdb: %w", err)
	}
	limitMallocArenas()
	e := &Engine{dir: dir, views: make(map[view]struct{})}
	e.cache = grocksdb.NewLRUCache(o.BlockCacheBytes)
	e.table = grocksdb.NewDefaultBlockBasedTableOptions()
	e.table.SetBlockCache(e.cache)
	// Point reads of revision keys dominate: a bloom filter saves a block
	// read per SST level that lacks the key. Index and filter blocks stay
	// with their open table (table readers), not in the block cache: kept
	// there, they were read back from the file and decompressed on most
	// point reads once random reads over a store larger than the cache
	// churned it (perf at 2M keys of 1 KiB: 80% of a put's CPU went to
	// re-reading filter blocks; 10,000 puts and 10,000 ranges took 13.3 s
	// of member CPU, 2.9 s without).
	// They take about 3 bytes per stored key (6 MiB at 2M keys), bounded
	// by MaxOpenFiles tables.
	e.table.SetFilterPolicy(grocksdb.NewBloomFilterFull(10))
	e.table.SetCacheIndexAndFilterBlocks(false)
	e.table.SetBlockSize(16 << 10)

	var err error
	if e.opts, err = e.newOptions(o, metaWriteBufferBytes(o.WriteBufferBytes)); err == nil {
		e.revOpts, err = e.newOptions(o, o.WriteBufferBytes)
	}
	if err != nil {
		e.destroyOptions()
		return nil, fmt.Errorf("rocksdb: options: %w", err)
	}
	// A database made before the split has no revisions column family:
	// create it, then move its revision keys there (migrateRevisions).
	e.opts.SetCreateIfMissingColumnFamilies(true)
	db, cfs, err := grocksdb.OpenDbColumnFamilies(e.opts, dir,
		[]string{"default", revisionsColumnFamily}, []*grocksdb.Options{e.opts, e.revOpts})
	if err != nil {
		e.destroyOptions()
		return nil, fmt.Errorf("rocksdb: open %s: %w", dir, err)
	}
	e.db, e.meta, e.revs = db, cfs[0], cfs[1]
	e.ro = grocksdb.NewDefaultReadOptions()
	e.roNoFill = grocksdb.NewDefaultReadOptions()
	e.roNoFill.SetFillCache(false)
	e.wo = grocksdb.NewDefaultWriteOptions()
	e.wo.SetSync(o.Sync)
	if err := e.migrateRevisions(); err != nil {
		e.Close()
		return nil, fmt.Errorf("rocksdb: open %s: %w", dir, err)
	}
	e.refreshLive()
	return e, nil
}

// newOptions builds the options of the database and of a column family
// whose memtables take writeBuffer bytes each.
func (e *Engine) newOptions(o Options, writeBuffer uint64) (*grocksdb.Options, error) {
	all, bottom, _ := compressionTypes(o.Compression)
	opts, err := grocksdb.GetOptionsFromString(nil, memtableHints)
	if err != nil {
		return nil, err
	}
	opts.SetCreateIfMissing(true)
	opts.SetBlockBasedTableFactory(e.table)
	opts.SetWriteBufferSize(writeBuffer)
	opts.SetMaxWriteBufferNumber(2)
	opts.SetCompression(all)
	opts.SetBottommostCompression(bottom)
	opts.SetMaxOpenFiles(o.MaxOpenFiles)
	opts.SetMaxBackgroundJobs(o.BackgroundJobs)
	opts.SetLevelCompactionDynamicLevelBytes(true)
	opts.SetBytesPerSync(1 << 20)
	// The WAL is written to its file by FlushWrites (every 64 KiB of
	// applied entries and every tick) rather than by every Write: one
	// write(2) for many batches (see the package documentation for what a
	// process crash may take). A Write that syncs writes it out anyway.
	opts.SetManualWALFlush(!o.Sync)
	// A process crash leaves a torn last record in RocksDB's WAL at worst:
	// drop it (it was never acknowledged by RocksDB), keep the rest.
	opts.SetWALRecoveryMode(grocksdb.PointInTimeRecovery)
	opts.SetInfoLogLevel(grocksdb.WarnInfoLogLevel)
	opts.SetKeepLogFileNum(4)
	opts.SetMaxLogFileSize(16 << 20)
	return opts, nil
}

// Dir is the database directory.
func (e *Engine) Dir() string { return e.dir }

// fillCacheOneIn is how many point reads there are per read that may add
// the block it misses to the block cache.
const fillCacheOneIn = 8

// Get returns a copy of the value at key.
//
// Only one read in fillCacheOneIn (drawn at random, so no access pattern
// aliases with it) adds a missed block to the block cache: admission by
// sampling. Over a store much larger than the cache, random reads almost
// never hit, and inserting every missed block (a 16 KiB allocation, an
// LRU insert, an eviction and a free) cost more than reading it: at 2M
// records of 1 KiB (BenchmarkGetAtScale), 7.2 µs of CPU per read filling
// the cache always, 4.6 never filling it. A block read again and again
// still gets in after a few reads on average, and then stays hot.
func (e *Engine) Get(key []byte) ([]byte, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, false, engine.ErrClosed
	}
	ro := e.roNoFill
	if rand.Uint32()%fillCacheOneIn == 0 {
		ro = e.ro
	}
	return e.get(ro, key)
}

// get reads key from its column family. The caller holds e.mu shared and
// has checked the engine is open.
func (e *Engine) get(ro *grocksdb.ReadOptions, key []byte) ([]byte, bool, error) {
	h, err := e.db.GetPinnedCF(ro, e.columnFamily(key), key)
	if err != nil {
		return nil, false, fmt.Errorf("rocksdb: get: %w", err)
	}
	defer h.Destroy()
	if !h.Exists() {
		return nil, false, nil
	}
	// Copy out of C memory; a present empty value is non-nil.
	return append([]byte{}, h.Data()...), true, nil
}

// NewIter iterates over [lower, upper) of the state at this moment (RocksDB
// iterators read an implicit snapshot). An iterator opened after Close is
// empty.
func (e *Engine) NewIter(lower, upper []byte) engine.Iterator {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return &iter{}
	}
	return e.newIter(nil, lower, upper)
}

// newIter opens an iterator over [lower, upper), on snapshot s when it is
// not nil: one RocksDB iterator per column family segment the range
// crosses (keySegments), walked one after the other. The caller holds e.mu
// shared and has checked the engine is open.
func (e *Engine) newIter(s *snapshot, lower, upper []byte) engine.Iterator {
	if lower == nil {
		lower = []byte{}
	}
	// An empty range iterates nothing. RocksDB would read an empty upper
	// bound as no bound at all, and a lower bound above the upper one is
	// outside its contract.
	if upper != nil && bytes.Compare(lower, upper) >= 0 {
		return &iter{}
	}
	var parts []*iter
	for _, seg := range e.keySegments() {
		lo, hi := seg.lower, seg.upper
		if bytes.Compare(lower, lo) > 0 {
			lo = lower
		}
		if upper != nil && (hi == nil || bytes.Compare(upper, hi) < 0) {
			hi = upper
		}
		if hi != nil && bytes.Compare(lo, hi) >= 0 {
			continue
		}
		parts = append(parts, e.newPartIter(s, seg.cf, lo, hi))
	}
	switch len(parts) {
	case 0:
		return &iter{}
	case 1:
		return parts[0]
	}
	return &concatIter{parts: parts}
}

// newPartIter opens a RocksDB iterator over [lower, upper) (upper nil: no
// bound; lower < upper) of one column family.
func (e *Engine) newPartIter(s *snapshot, cf *grocksdb.ColumnFamilyHandle, lower, upper []byte) *iter {
	it := &iter{e: e, snap: s, pos: new(position)}
	it.lower = append([]byte{}, lower...)
	if upper != nil {
		it.upper = append([]byte{}, upper...)
	}
	it.ro = grocksdb.NewDefaultReadOptions()
	if s != nil {
		s.ref()
		it.ro.SetSnapshot(s.snap)
		// A frozen view is read whole, once (a snapshot file, a
		// maintenance snapshot): its blocks would only evict the
		// working set of point reads from the block cache.
		it.ro.SetFillCache(false)
	}
	if len(it.lower) > 0 {
		it.ro.SetIterateLowerBound(it.lower)
	}
	if it.upper != nil {
		it.ro.SetIterateUpperBound(it.upper)
	}
	it.it = e.db.NewIteratorCF(it.ro, cf)
	e.track(it)
	return it
}

// NewBatch returns an empty batch for Write.
func (e *Engine) NewBatch() engine.Batch { return newBatch() }

// Write applies b atomically, through RocksDB's WAL.
func (e *Engine) Write(b engine.Batch) error {
	rb, ok := b.(*batch)
	if !ok {
		return errForeignBatch
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return engine.ErrClosed
	}
	if rb.n == 0 {
		return nil
	}
	if err := e.db.Write(e.wo, rb.writeBatch(e)); err != nil {
		return fmt.Errorf("rocksdb: write: %w", err)
	}
	e.wrote(rb.bytes)
	return nil
}

// Snapshot returns a RocksDB snapshot: a sequence number that pins the
// versions visible at this moment, costing nothing until writes pile up
// behind it. A snapshot taken after Close reports engine.ErrClosed.
func (e *Engine) Snapshot() engine.Snapshot {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return &snapshot{released: true}
	}
	s := &snapshot{e: e, snap: e.db.NewSnapshot(), refs: 1}
	s.ro = grocksdb.NewDefaultReadOptions()
	s.ro.SetSnapshot(s.snap)
	e.track(s)
	return s
}

// Durable reports true: what Write returned from survives a process crash
// once FlushWrites (or Sync) returned.
func (e *Engine) Durable() bool { return true }

// FlushWrites hands RocksDB's WAL buffer to the OS: every Write so far then
// survives a process crash (engine.WriteFlusher).
func (e *Engine) FlushWrites() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return engine.ErrClosed
	}
	return e.db.FlushWAL(false)
}

// Sync makes every write so far survive a machine crash too (it writes
// RocksDB's WAL buffer and fsyncs the WAL): engine.Syncer.
func (e *Engine) Sync() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return engine.ErrClosed
	}
	return e.db.FlushWAL(true)
}

// Flush writes the memtables to SST files and waits for it.
func (e *Engine) Flush() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return engine.ErrClosed
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	err := e.db.FlushCF(e.meta, fo)
	if err == nil {
		err = e.db.FlushCF(e.revs, fo)
	}
	e.refreshLive()
	return err
}

// Compact rewrites the whole key space, dropping deleted and overwritten
// versions (etcd's Defragment).
func (e *Engine) Compact() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return engine.ErrClosed
	}
	e.db.CompactRangeCF(e.meta, grocksdb.Range{})
	e.db.CompactRangeCF(e.revs, grocksdb.Range{})
	e.refreshLive()
	return nil
}

// Property returns a RocksDB property ("rocksdb.estimate-num-keys",
// "rocksdb.cur-size-all-mem-tables", ...), or "" when unknown or closed.
// A property of column families is the sum over both when it is a number
// ("rocksdb.num-files-at-level0") and both texts, one after the other,
// otherwise ("rocksdb.stats").
func (e *Engine) Property(name string) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ""
	}
	meta := e.db.GetPropertyCF(name, e.meta)
	if !perColumnFamily(name) {
		return meta
	}
	revs := e.db.GetPropertyCF(name, e.revs)
	m, errM := strconv.ParseUint(strings.TrimSpace(meta), 10, 64)
	r, errR := strconv.ParseUint(strings.TrimSpace(revs), 10, 64)
	if errM == nil && errR == nil {
		return strconv.FormatUint(m+r, 10)
	}
	return meta + revs
}

// perColumnFamily reports whether RocksDB keeps property name per column
// family (the rest are the database's: running jobs, write stalls,
// snapshots).
func perColumnFamily(name string) bool {
	switch {
	case strings.HasPrefix(name, "rocksdb.num-running-"),
		strings.HasPrefix(name, "rocksdb.actual-delayed-write-rate"),
		strings.HasPrefix(name, "rocksdb.is-write-stopped"),
		strings.HasPrefix(name, "rocksdb.num-snapshots"),
		strings.HasPrefix(name, "rocksdb.oldest-snapshot"),
		strings.HasPrefix(name, "rocksdb.dbstats"):
		return false
	}
	return true
}

// WatchedProperties are the integer properties worth exporting as
// gauges: what makes RocksDB slow writes down (L0 files, compaction debt, a
// delayed or stopped write) and what it is doing about it.
var WatchedProperties = []string{
	"rocksdb.num-files-at-level0",
	"rocksdb.estimate-pending-compaction-bytes",
	"rocksdb.num-running-compactions",
	"rocksdb.num-running-flushes",
	"rocksdb.actual-delayed-write-rate",
	"rocksdb.is-write-stopped",
	"rocksdb.num-snapshots",
	"rocksdb.estimate-live-data-size",
}

// IntProperty returns an integer RocksDB property, or 0 when unknown or
// closed. Some integers are only string properties
// ("rocksdb.num-files-at-level<N>"): those are parsed.
func (e *Engine) IntProperty(name string) uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0
	}
	return e.intProperty(name)
}

// intProperty is IntProperty for a caller holding e.mu shared on an open
// engine: summed over both column families when RocksDB keeps it per
// family.
func (e *Engine) intProperty(name string) uint64 {
	read := func(cf *grocksdb.ColumnFamilyHandle) uint64 {
		if v, ok := e.db.GetIntPropertyCF(name, cf); ok {
			return v
		}
		v, _ := strconv.ParseUint(strings.TrimSpace(e.db.GetPropertyCF(name, cf)), 10, 64)
		return v
	}
	if !perColumnFamily(name) {
		return read(e.meta)
	}
	return read(e.meta) + read(e.revs)
}

// BlockCacheUsage is the bytes the block cache holds.
func (e *Engine) BlockCacheUsage() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0
	}
	return e.cache.GetUsage()
}

// MemoryStats is where RocksDB's own memory (outside the Go heap) goes.
type MemoryStats struct {
	// BlockCache is what the block cache holds (data blocks), at most
	// Options.BlockCacheBytes unless pinned blocks overflow it;
	// BlockCachePinned is the part pinned by readers.
	BlockCache, BlockCachePinned uint64
	// Memtables is the active and immutable memtables, including those
	// kept only because an iterator or snapshot still reads them.
	Memtables uint64
	// TableReaders is the open SST files' readers, with their index and
	// filter blocks: about 3 bytes per stored key.
	TableReaders uint64
}

// MemoryStats reports RocksDB's memory by kind; zero once closed.
func (e *Engine) MemoryStats() MemoryStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return MemoryStats{}
	}
	return MemoryStats{
		BlockCache:       e.cache.GetUsage(),
		BlockCachePinned: e.cache.GetPinnedUsage(),
		Memtables:        e.intProperty("rocksdb.size-all-mem-tables"),
		TableReaders:     e.intProperty("rocksdb.estimate-table-readers-mem"),
	}
}

// Close releases every open iterator and snapshot and closes the database.
// It first hands RocksDB's WAL buffer to the OS, so a clean Close loses
// nothing; it does not flush memtables, which the next Open replays from
// the WAL. A second Close returns engine.ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return engine.ErrClosed
	}
	e.closed = true
	e.viewsMu.Lock()
	var iters, snaps []view
	for v := range e.views {
		if _, ok := v.(*snapshot); ok {
			snaps = append(snaps, v)
		} else {
			iters = append(iters, v)
		}
	}
	e.views = nil
	e.viewsMu.Unlock()
	for _, v := range iters {
		v.release()
	}
	for _, v := range snaps {
		v.release()
	}
	flushErr := e.db.FlushWAL(false)
	e.meta.Destroy()
	e.revs.Destroy()
	e.db.Close()
	e.ro.Destroy()
	e.roNoFill.Destroy()
	e.wo.Destroy()
	e.destroyOptions()
	if flushErr != nil {
		return fmt.Errorf("rocksdb: close: %w", flushErr)
	}
	return nil
}

func (e *Engine) destroyOptions() {
	if e.opts != nil {
		e.opts.Destroy()
	}
	if e.revOpts != nil {
		e.revOpts.Destroy()
	}
	e.table.Destroy()
	e.cache.Destroy()
}

func (e *Engine) track(v view) {
	e.viewsMu.Lock()
	e.views[v] = struct{}{}
	e.viewsMu.Unlock()
}

func (e *Engine) untrack(v view) {
	e.viewsMu.Lock()
	delete(e.views, v)
	e.viewsMu.Unlock()
}

// Destroy removes the database in dir (which must not be open).
func Destroy(dir string) error {
	o := grocksdb.NewDefaultOptions()
	defer o.Destroy()
	return grocksdb.DestroyDb(dir, o)
}
