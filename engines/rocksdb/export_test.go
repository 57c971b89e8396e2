package rocksdb

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RevisionFilesByLevel counts the revisions column family's SST files on
// each level.
func (e *Engine) RevisionFilesByLevel() []int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var files []int
	for level := range 7 {
		n, _ := strconv.Atoi(strings.TrimSpace(e.db.GetPropertyCF(fmt.Sprintf("rocksdb.num-files-at-level%d", level), e.revs)))
		files = append(files, n)
	}
	return files
}

// WaitForCompactions waits until RocksDB has no compaction running or due.
func (e *Engine) WaitForCompactions() {
	for range 500 {
		if e.IntProperty("rocksdb.num-running-compactions") == 0 && e.IntProperty("rocksdb.compaction-pending") == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
