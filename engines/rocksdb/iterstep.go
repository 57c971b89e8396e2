package rocksdb

/*
#cgo LDFLAGS: -lrocksdb
#include <stddef.h>
#include "rocksdb/c.h"

// ms_position is where an iterator stands after a move: whether it is
// valid and, if so, its key and value, which point into RocksDB's memory
// and stay good until the iterator moves or is destroyed.
typedef struct {
	const char* key;
	size_t key_len;
	const char* value;
	size_t value_len;
	unsigned char valid;
} ms_position;

static void ms_read(rocksdb_iterator_t* it, ms_position* p) {
	p->valid = rocksdb_iter_valid(it);
	if (p->valid) {
		p->key = rocksdb_iter_key(it, &p->key_len);
		p->value = rocksdb_iter_value(it, &p->value_len);
	}
}

enum { ms_first, ms_last, ms_next, ms_prev, ms_seek };

// ms_move makes one move and reads the position: one cgo call where
// grocksdb takes four (move, valid, key, value).
static void ms_move(rocksdb_iterator_t* it, int op, const char* k, size_t klen, ms_position* p) {
	switch (op) {
	case ms_first: rocksdb_iter_seek_to_first(it); break;
	case ms_last: rocksdb_iter_seek_to_last(it); break;
	case ms_next: rocksdb_iter_next(it); break;
	case ms_prev: rocksdb_iter_prev(it); break;
	case ms_seek: rocksdb_iter_seek(it, k, klen); break;
	}
	ms_read(it, p);
}
*/
import "C"

import (
	"unsafe"

	"github.com/linxGnu/grocksdb"
)

// A move of an iterator; see ms_move.
type iterMove C.int

const (
	moveFirst iterMove = C.ms_first
	moveLast  iterMove = C.ms_last
	moveNext  iterMove = C.ms_next
	movePrev  iterMove = C.ms_prev
	moveSeek  iterMove = C.ms_seek
)

// position is where a RocksDB iterator stands; see ms_position.
type position C.ms_position

// nativeIter is the C iterator behind a grocksdb.Iterator, whose only
// field it is in grocksdb v1.7.15 (go.mod pins it; TestNativeIter checks
// that the two agree).
func nativeIter(it *grocksdb.Iterator) *C.rocksdb_iterator_t {
	return *(**C.rocksdb_iterator_t)(unsafe.Pointer(it))
}

// step moves it by m (to key, for moveSeek) and fills p with where it
// lands.
func step(it *grocksdb.Iterator, m iterMove, key []byte, p *position) {
	var k *C.char
	if len(key) > 0 {
		k = (*C.char)(unsafe.Pointer(unsafe.SliceData(key)))
	}
	C.ms_move(nativeIter(it), C.int(m), k, C.size_t(len(key)), (*C.ms_position)(p))
}

func (p *position) isValid() bool { return p.valid != 0 }

// keyBytes and valueBytes alias RocksDB's memory: copy before the
// iterator moves.
func (p *position) keyBytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p.key)), int(p.key_len))
}

func (p *position) valueBytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p.value)), int(p.value_len))
}
