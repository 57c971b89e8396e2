package metrics

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ServeMux routes /metrics, /health, /readyz and /livez. hasLeader must be
// safe to call from HTTP goroutines (e.g. read an atomic the driver sets).
func (m *Metrics) ServeMux(hasLeader func() bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.Handle("/health", HealthHandler(hasLeader))
	mux.Handle("/readyz", ReadyHandler(hasLeader))
	mux.Handle("/livez", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	}))
	return mux
}

// healthBody is etcd's /health body.
type healthBody struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// HealthHandler answers like etcd's /health: 200 {"health":"true"} when a
// leader is known, else 503 {"health":"false","reason":"RAFT NO LEADER"}.
func HealthHandler(hasLeader func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h, code := healthBody{Health: "true"}, http.StatusOK
		if !hasLeader() {
			h, code = healthBody{Health: "false", Reason: "RAFT NO LEADER"}, http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(h)
	})
}

// ReadyHandler answers 200 "ok" when a leader is known (the member can serve
// linearizable requests), else 503 "no leader": a load balancer's readiness
// probe.
func ReadyHandler(hasLeader func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !hasLeader() {
			http.Error(w, "no leader", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}
