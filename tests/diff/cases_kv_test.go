package diff

import (
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// kvCases: put, get and delete basics, prev_kv, ignore_value/ignore_lease,
// binary and large keys and values.
func kvCases() []tcase {
	return []tcase{
		{name: "put-get", run: func(e *env) {
			e.put("a", "1")
			e.get("a")
		}},
		{name: "put-overwrite-version", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.put("a", "2")
			e.get("a")
		}},
		{name: "put-prev-kv", run: func(e *env) {
			e.put("a", "1", clientv3.WithPrevKV())
			e.put("a", "2", clientv3.WithPrevKV())
			e.put("b", "x")
			e.put("b", "y", clientv3.WithPrevKV())
		}},
		{name: "get-missing", run: func(e *env) {
			e.get("nope")
			e.put("a", "1")
			e.get("nope")
		}},
		{name: "delete-single", run: func(e *env) {
			e.put("a", "1")
			e.del("a")
			e.get("a")
			e.del("a")
		}},
		{name: "delete-prev-kv", run: func(e *env) {
			e.put("a", "1")
			e.put("b", "2")
			e.del("", clientv3.WithPrefix(), clientv3.WithPrevKV())
			e.del("a", clientv3.WithPrevKV())
		}},
		{name: "delete-range-end", run: func(e *env) {
			for _, k := range []string{"a", "b", "c", "d"} {
				e.put(k, k)
			}
			e.del("b", clientv3.WithRange(e.k("d")))
			e.getAll()
		}},
		{name: "delete-from-key", run: func(e *env) {
			for _, k := range []string{"a", "b", "c"} {
				e.put(k, k)
			}
			e.del("b", clientv3.WithFromKey(), clientv3.WithPrevKV())
			e.getAll()
		}},
		{name: "delete-recreate-version", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.del("a")
			e.put("a", "3", clientv3.WithPrevKV())
			e.get("a")
		}},
		{name: "ignore-value", run: func(e *env) {
			e.put("a", "keep")
			e.put("a", "", clientv3.WithIgnoreValue(), clientv3.WithPrevKV())
			e.get("a")
		}},
		{name: "ignore-value-missing-key", run: func(e *env) {
			e.put("a", "", clientv3.WithIgnoreValue())
			e.get("a")
		}},
		{name: "ignore-value-with-value", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2", clientv3.WithIgnoreValue())
			e.get("a")
		}},
		{name: "ignore-lease", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "1", clientv3.WithLease(id))
			e.put("a", "2", clientv3.WithIgnoreLease(), clientv3.WithPrevKV())
			e.get("a")
		}},
		{name: "ignore-lease-with-lease", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "1")
			e.put("a", "2", clientv3.WithIgnoreLease(), clientv3.WithLease(id))
			e.get("a")
		}},
		{name: "ignore-lease-missing-key", run: func(e *env) {
			e.put("a", "1", clientv3.WithIgnoreLease())
		}},
		{name: "ignore-value-and-lease", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "v", clientv3.WithLease(id))
			e.put("a", "", clientv3.WithIgnoreValue(), clientv3.WithIgnoreLease())
			e.get("a")
		}},
		{name: "put-drops-lease", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "v", clientv3.WithLease(id))
			e.put("a", "w")
			e.get("a")
			r, err := e.c.TimeToLive(e.ctx, id, clientv3.WithAttachedKeys())
			e.rec("ttl", r, err)
		}},
		{name: "binary-key-nul", run: func(e *env) {
			e.put("\x00", "nul")
			e.put("a\x00b", "mid")
			e.get("\x00")
			e.get("a\x00b")
			e.getAll()
		}},
		{name: "binary-key-ff", run: func(e *env) {
			e.put("\xff", "1")
			e.put("\xff\xff", "2")
			e.put("\xfe", "0")
			e.get("\xff", clientv3.WithPrefix())
			e.get("\xfe", clientv3.WithFromKey())
		}},
		{name: "binary-invalid-utf8", run: func(e *env) {
			e.put("\xc3\x28", "\xa0\xa1")
			e.put("ok", "\x00\xff\xfe")
			e.get("\xc3\x28")
			e.getAll(clientv3.WithSort(clientv3.SortByValue, clientv3.SortDescend))
		}},
		{name: "empty-value", run: func(e *env) {
			e.put("a", "")
			e.get("a")
			e.put("a", "", clientv3.WithPrevKV())
		}},
		{name: "large-value-1MiB", run: func(e *env) {
			big := strings.Repeat("0123456789abcdef", 1<<16)
			e.put("big", big)
			e.get("big")
			e.put("big", big[:1<<19], clientv3.WithPrevKV())
		}},
		{name: "many-keys-delete-count", run: func(e *env) {
			for i := range 20 {
				e.put(string(rune('a'+i)), "v")
			}
			e.get("", clientv3.WithPrefix(), clientv3.WithCountOnly())
			e.del("", clientv3.WithPrefix())
			e.get("", clientv3.WithPrefix(), clientv3.WithCountOnly())
		}},
	}
}
