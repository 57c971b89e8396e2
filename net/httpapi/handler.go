package httpapi

import (
	"context"
	"encoding/json"
	"expvar"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
)

// Options configures Handler. Nil handlers leave their paths unserved.
type Options struct {
	// Member answers the health checks; nil serves none of them.
	Member Member
	// RequestTimeout bounds each health-check read.
	RequestTimeout time.Duration
	// Metrics serves /metrics.
	Metrics http.Handler
	// Gateway serves /v3/ (and /v3beta/, rewritten as etcd does).
	Gateway http.Handler
	// ServerVersion is what /version reports as etcdserver, e.g. 3.7.3;
	// empty serves no /version.
	ServerVersion string
	// EnablePprof serves the Go profiler under /debug/pprof/.
	EnablePprof bool
}

// Handler routes the client port's HTTP paths.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.Member != nil {
		mux.Handle("/health", healthHandler(o.Member, o.RequestTimeout))
		handleChecks(mux, "/livez", livezChecks(o.Member, o.RequestTimeout))
		handleChecks(mux, "/readyz", readyzChecks(o.Member, o.RequestTimeout))
	}
	if o.Metrics != nil {
		mux.Handle("/metrics", o.Metrics)
	}
	if o.ServerVersion != "" {
		mux.HandleFunc("/version", versionHandler(o.ServerVersion))
	}
	// etcd serves the process's expvars (command line, memory statistics)
	// on every client URL.
	mux.Handle("/debug/vars", expvar.Handler())
	if o.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if o.Gateway != nil {
		mux.Handle("/v3/", o.Gateway)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// etcd still answers the gateway's pre-3.4 prefix.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/v3beta/"); ok {
			r.URL.Path = "/v3/" + rest
		}
		// etcd's default --cors is "*": every answer allows any origin,
		// and a preflight OPTIONS is answered at once.
		h := w.Header()
		h.Add("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
		h.Add("Access-Control-Allow-Origin", "*")
		h.Add("Access-Control-Allow-Headers", "accept, content-type, authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// versions is etcd's /version body.
type versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
}

// versionHandler reports the server version, and as cluster and storage
// version its major.minor.0, which is what etcd reports for a cluster of
// members all at one version.
func versionHandler(server string) http.HandlerFunc {
	minor := server
	if parts := strings.SplitN(server, ".", 3); len(parts) == 3 {
		minor = parts[0] + "." + parts[1] + ".0"
	}
	b, _ := json.Marshal(versions{Server: server, Cluster: minor, Storage: minor})
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

// Gateway is etcd's JSON gateway for KV, Watch, Lease, Cluster, Maintenance
// and Auth (etcd's own grpc-gateway registrations), calling the services
// through conn. The JSON uses the proto field names and omits unset fields,
// and unknown request fields are ignored: etcd's marshaler settings, so the
// bodies match etcd's byte for byte where the values do.
func Gateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}},
	))
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler,
		gw.RegisterWatchHandler,
		gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler,
		gw.RegisterMaintenanceHandler,
		gw.RegisterAuthHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, err
		}
	}
	return mux, nil
}
