package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"metastore/net/config"
	"metastore/net/httpapi"
	"metastore/net/httpmux"
	"metastore/net/server"
)

// clientHTTP is the HTTP half of the client listeners: etcd's health,
// version, metrics, pprof and JSON gateway paths, served beside gRPC on
// every client URL through one httpmux.Mux.
type clientHTTP struct {
	mux    *httpmux.Mux
	srv    *http.Server
	gwConn *grpc.ClientConn // the gateway's in-process gRPC connection
}

// buildClientHTTP assembles the mux over p.clientSrv; nothing is served
// until serve.
func (p *process) buildClientHTTP(cfg *config.Config) error {
	h := &clientHTTP{srv: &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		// gRPC over TLS arrives through this server's HTTP/2: give it the
		// stream limit plain gRPC connections have.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: int(min(cfg.GRPC.MaxConcurrentStreams, math.MaxInt32))},
	}}
	h.mux = httpmux.New(p.clientSrv, h.srv)
	h.mux.WrapGRPCListener(p.metrics.CountConns)
	if p.leanSrv != nil {
		h.mux.ServePlainWith(p.leanSrv)
	}
	conn, err := grpc.NewClient("passthrough:///metastore-local",
		grpc.WithContextDialer(h.mux.DialGRPC),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		return fmt.Errorf("gateway connection: %w", err)
	}
	gw, err := httpapi.Gateway(context.Background(), conn)
	if err != nil {
		conn.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	h.gwConn = conn
	h.srv.Handler = httpmux.Handler(p.clientSrv, httpapi.Handler(httpapi.Options{
		Member:         p.srv,
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        p.metrics.Handler(),
		Gateway:        gw,
		ServerVersion:  server.Version,
		EnablePprof:    cfg.EnablePprof,
	}))
	p.http = h
	return nil
}

// metricsHandler is what --listen-metrics-urls serve: /metrics and the
// health checks, as etcd's metrics listener.
func (p *process) metricsHandler(cfg *config.Config) http.Handler {
	return httpapi.Handler(httpapi.Options{
		Member:         p.srv,
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        p.metrics.Handler(),
	})
}

// serveClients serves gRPC and HTTP on every client listener.
func (p *process) serveClients() {
	p.http.mux.Start(func(what string, err error) {
		p.log.Error("serving clients", "server", what, "err", err)
	})
	for _, l := range p.clientLis {
		go func() {
			if err := p.http.mux.Serve(l); err != nil {
				p.log.Error("serving", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
}

// stopAccepting closes the client listeners and ends HTTP requests,
// gateway streams included, so that the gRPC server's graceful stop only
// waits for real gRPC clients.
func (p *process) stopAccepting() {
	if p.http == nil {
		return
	}
	p.http.mux.Close()
	p.http.srv.Close()
	p.http.gwConn.Close()
}
