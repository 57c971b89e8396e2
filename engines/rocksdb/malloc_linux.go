package rocksdb

/*
#include <malloc.h>

// glibc's; other C libraries have no arenas to limit.
static void limit_arenas(int n) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, n);
#endif
}
*/
import "C"

import (
	"os"
	"sync"
)

// mallocArenas is the most glibc malloc arenas RocksDB's allocations
// spread over. glibc creates up to eight per core as threads contend, and
// the block cache's blocks, memtable arenas and compaction buffers,
// allocated on one thread and freed on another, leave each arena holding
// freed memory it cannot return to the OS: resident memory that grows
// with the core count, not the data (MALLOC_ARENA_MAX=2 is the usual fix
// for RocksDB under glibc; jemalloc is not linked here). Two arenas hold
// their own against the contention of a few background jobs and the
// apply loop. On 2 cores (16 arenas by default) it saved 10 MiB of 746 at
// 2M keys; the saving grows with the core count.
const mallocArenas = 2

var limitArenasOnce sync.Once

// limitMallocArenas caps glibc's arenas for the rest of the process,
// unless the operator chose through MALLOC_ARENA_MAX (read by glibc at
// start). Arenas already made stay, so it is called before the database
// opens and starts its threads.
func limitMallocArenas() {
	limitArenasOnce.Do(func() {
		if os.Getenv("MALLOC_ARENA_MAX") != "" {
			return
		}
		C.limit_arenas(C.int(mallocArenas))
	})
}
