//go:build !linux

package rocksdb

// limitMallocArenas is a glibc tuning (malloc_linux.go); elsewhere the
// system allocator is left as it is.
func limitMallocArenas() {}
