// Package httpapi is the HTTP side of a member's client port, shaped as
// etcd's: /health, /livez and /readyz (with their sub-checks), /version,
// /metrics, /debug/vars, /debug/pprof (when enabled) and the JSON gateway
// under /v3/.
// Paths, methods, status codes and bodies follow etcd's, so probes,
// scrape configurations and curl scripts written for etcd work unchanged.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is what the health checks ask of the local member. Its methods
// must be safe to call from HTTP goroutines.
type Member interface {
	// Alarms are the cluster's active alarms.
	Alarms() []*pb.AlarmMember
	// Leader is the current leader's ID, 0 when none is known.
	Leader() uint64
	// IsLearner tells whether this member is a raft learner.
	IsLearner() bool
	// Range reads through the member's KV service, bypassing client
	// authentication as etcd's checks do (they read as root).
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
}

// health is etcd's /health body.
type health struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// healthHandler answers /health as etcd: alarms (minus ?exclude=NAME), then
// the leader (unless ?serializable=true), then a one-key read; 200 with
// {"health":"true","reason":""} or 503 with the first failure's reason.
func healthHandler(m Member, timeout time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		serializable := r.URL.Query().Get("serializable") == "true"
		h := checkHealth(r.Context(), m, timeout, querySet(r, "exclude"), serializable)
		b, _ := json.Marshal(h)
		if h.Health != "true" {
			http.Error(w, string(b), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

func checkHealth(ctx context.Context, m Member, timeout time.Duration, excluded map[string]bool, serializable bool) health {
	for _, a := range m.Alarms() {
		if excluded[a.Alarm.String()] {
			continue
		}
		switch a.Alarm {
		case pb.AlarmType_NOSPACE:
			return health{"false", "ALARM NOSPACE"}
		case pb.AlarmType_CORRUPT:
			return health{"false", "ALARM CORRUPT"}
		default:
			return health{"false", "ALARM UNKNOWN"}
		}
	}
	if !serializable && m.Leader() == 0 {
		return health{"false", "RAFT NO LEADER"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := m.Range(ctx, probeRange(serializable)); err != nil {
		return health{"false", "RANGE ERROR:" + err.Error()}
	}
	return health{"true", ""}
}

// probeRange is the cheapest read that still goes through the KV path.
func probeRange(serializable bool) *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte{0}, KeysOnly: true, Limit: 1, Serializable: serializable}
}

// check is one named probe of /livez or /readyz.
type check struct {
	name string
	run  func(ctx context.Context) error
}

func livezChecks(m Member, timeout time.Duration) []check {
	return []check{{"serializable_read", readCheck(m, timeout, true)}}
}

func readyzChecks(m Member, timeout time.Duration) []check {
	return []check{
		{"data_corruption", func(context.Context) error {
			for _, a := range m.Alarms() {
				if a.Alarm == pb.AlarmType_CORRUPT {
					return fmt.Errorf("alarm activated: %s", a.Alarm)
				}
			}
			return nil
		}},
		{"linearizable_read", readCheck(m, timeout, false)},
		{"non_learner", func(context.Context) error {
			if m.IsLearner() {
				return fmt.Errorf("not supported for learner")
			}
			return nil
		}},
		{"serializable_read", readCheck(m, timeout, true)},
	}
}

func readCheck(m Member, timeout time.Duration, serializable bool) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := m.Range(ctx, probeRange(serializable))
		return err
	}
}

// handleChecks installs root (e.g. /readyz) running every check but those
// named by ?exclude=, and root/NAME running one. As etcd: 200 "ok\n"
// (preceded by one "[+]name ok" line per check with ?verbose), or 503 with
// every check's line, failures as "[-]name failed: reason".
func handleChecks(mux *http.ServeMux, root string, checks []check) {
	run := func(w http.ResponseWriter, r *http.Request, cs []check) {
		if !allowGet(w, r) {
			return
		}
		var out strings.Builder
		failed := false
		for _, c := range cs {
			if err := c.run(r.Context()); err != nil {
				failed = true
				fmt.Fprintf(&out, "[-]%s failed: %v\n", c.name, err)
			} else {
				fmt.Fprintf(&out, "[+]%s ok\n", c.name)
			}
		}
		if failed {
			http.Error(w, out.String(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			fmt.Fprint(w, out.String())
		}
		fmt.Fprint(w, "ok\n")
	}
	slices.SortFunc(checks, func(a, b check) int { return strings.Compare(a.name, b.name) })
	mux.HandleFunc(root, func(w http.ResponseWriter, r *http.Request) {
		excluded := querySet(r, "exclude")
		run(w, r, slices.DeleteFunc(slices.Clone(checks), func(c check) bool { return excluded[c.name] }))
	})
	for _, c := range checks {
		mux.HandleFunc(root+"/"+c.name, func(w http.ResponseWriter, r *http.Request) {
			run(w, r, []check{c})
		})
	}
}

// querySet is the set of non-empty values of a repeated query parameter.
func querySet(r *http.Request, name string) map[string]bool {
	set := map[string]bool{}
	for _, v := range r.URL.Query()[name] {
		if v != "" {
			set[v] = true
		}
	}
	return set
}

// allowGet answers 405 with an Allow header to anything but GET, as etcd.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}
