package diff

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fiveKeys puts a..e in order.
func fiveKeys(e *env) {
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.put(k, "v"+k)
	}
}

// sortData makes four keys whose orders by key, version, create revision,
// mod revision and value all differ (no ties: etcd's sort is not stable):
// key a<b<c<d, version c<a<d<b, create c<d<a<b, mod c<b<a<d, value d<a<c<b.
// Revisions base+1..base+10.
func sortData(e *env) {
	for _, kv := range [][2]string{
		{"c", "q"}, {"d", "x"}, {"a", "x"}, {"b", "x"},
		{"d", "x"}, {"b", "x"}, {"b", "x"}, {"b", "z"}, {"a", "m"}, {"d", "a"},
	} {
		e.put(kv[0], kv[1])
	}
}

func rangeCases() []tcase {
	cs := []tcase{
		{name: "range-limit-more-count", run: func(e *env) {
			fiveKeys(e)
			e.getAll(clientv3.WithLimit(2))
			e.getAll(clientv3.WithLimit(5))
			e.getAll(clientv3.WithLimit(6))
			e.getAll(clientv3.WithLimit(0))
		}},
		{name: "range-prefix", run: func(e *env) {
			for _, k := range []string{"a", "ab", "abc", "b", "aa"} {
				e.put(k, k)
			}
			e.get("a", clientv3.WithPrefix())
			e.get("ab", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		}},
		{name: "range-from-key", run: func(e *env) {
			fiveKeys(e)
			e.get("c", clientv3.WithFromKey())
			e.get("cc", clientv3.WithFromKey(), clientv3.WithLimit(1))
			e.get("z", clientv3.WithFromKey())
		}},
		{name: "range-end", run: func(e *env) {
			fiveKeys(e)
			e.get("b", clientv3.WithRange(e.k("d")))
			e.get("b", clientv3.WithRange(e.k("b\x00")))
			e.get("a", clientv3.WithRange(e.k("zz")), clientv3.WithLimit(3))
		}},
		{name: "range-rev-old", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.put("b", "1")
			e.put("a", "3")
			base := e.n.base
			for r := base + 1; r <= base+4; r++ {
				e.getAll(clientv3.WithRev(r))
			}
		}},
		{name: "range-rev-before-create", run: func(e *env) {
			e.put("a", "1")
			e.get("a", clientv3.WithRev(e.n.base))
		}},
		{name: "range-rev-deleted", run: func(e *env) {
			e.put("a", "1")
			e.del("a")
			e.put("a", "2")
			e.get("a", clientv3.WithRev(e.n.base+1))
			e.get("a", clientv3.WithRev(e.n.base+2))
			e.get("a", clientv3.WithRev(e.n.base+3))
		}},
		{name: "range-rev-with-count-limit", run: func(e *env) {
			fiveKeys(e)
			e.del("c")
			e.getAll(clientv3.WithRev(e.n.base+4), clientv3.WithLimit(2))
			e.getAll(clientv3.WithRev(e.n.base+6), clientv3.WithCountOnly())
		}},
		{name: "range-keys-only", run: func(e *env) {
			fiveKeys(e)
			e.getAll(clientv3.WithKeysOnly())
			e.get("a", clientv3.WithKeysOnly())
		}},
		{name: "range-count-only", run: func(e *env) {
			fiveKeys(e)
			e.getAll(clientv3.WithCountOnly())
			e.getAll(clientv3.WithCountOnly(), clientv3.WithLimit(2))
			e.get("zz", clientv3.WithCountOnly())
		}},
		{name: "range-serializable", run: func(e *env) {
			fiveKeys(e)
			e.getAll(clientv3.WithSerializable(), clientv3.WithLimit(3))
		}},
		{name: "range-sort-none-with-target", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithSort(clientv3.SortByVersion, clientv3.SortNone))
			e.getAll(clientv3.WithSort(clientv3.SortByValue, clientv3.SortNone))
		}},
		{name: "range-sort-with-limit", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(2))
			e.getAll(clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend), clientv3.WithLimit(3))
			e.getAll(clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
		}},
		{name: "range-sort-keys-only-count", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithKeysOnly())
			e.getAll(clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend), clientv3.WithCountOnly())
		}},
		{name: "range-min-mod-rev", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinModRev(e.n.base + 8))
		}},
		{name: "range-max-mod-rev", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMaxModRev(e.n.base + 7))
		}},
		{name: "range-min-create-rev", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinCreateRev(e.n.base + 3))
		}},
		{name: "range-max-create-rev", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMaxCreateRev(e.n.base + 2))
		}},
		{name: "range-mod-filter-with-limit", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinModRev(e.n.base+7), clientv3.WithLimit(1))
			e.getAll(clientv3.WithMaxModRev(e.n.base+9), clientv3.WithLimit(2))
		}},
		{name: "range-create-filter-with-limit", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinCreateRev(e.n.base+2), clientv3.WithLimit(1))
			e.getAll(clientv3.WithMaxCreateRev(e.n.base+3), clientv3.WithLimit(1), clientv3.WithCountOnly())
		}},
		{name: "range-filters-combined-sorted", run: func(e *env) {
			sortData(e)
			e.getAll(clientv3.WithMinCreateRev(e.n.base+2), clientv3.WithMaxModRev(e.n.base+9),
				clientv3.WithSort(clientv3.SortByValue, clientv3.SortDescend), clientv3.WithLimit(2))
		}},
		{name: "range-raw-invalid-sort", run: func(e *env) {
			r, err := e.kv.Range(e.ctx, &pb.RangeRequest{Key: []byte(e.k("a")), SortOrder: 9})
			e.rec("range sort order 9", r, err)
			r, err = e.kv.Range(e.ctx, &pb.RangeRequest{Key: []byte(e.k("a")), SortTarget: 9})
			e.rec("range sort target 9", r, err)
		}},
	}
	targets := []struct {
		name string
		t    clientv3.SortTarget
	}{
		{"key", clientv3.SortByKey}, {"version", clientv3.SortByVersion},
		{"create", clientv3.SortByCreateRevision}, {"mod", clientv3.SortByModRevision},
		{"value", clientv3.SortByValue},
	}
	for _, tg := range targets {
		for _, o := range []clientv3.SortOrder{clientv3.SortAscend, clientv3.SortDescend} {
			name := fmt.Sprintf("range-sort-%s-%s", tg.name, map[clientv3.SortOrder]string{
				clientv3.SortAscend: "asc", clientv3.SortDescend: "desc"}[o])
			cs = append(cs, tcase{name: name, run: func(e *env) {
				sortData(e)
				e.getAll(clientv3.WithSort(tg.t, o))
			}})
		}
	}
	return cs
}
