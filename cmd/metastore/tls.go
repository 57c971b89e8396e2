package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"metastore/net/config"
	"metastore/net/tlsutil"
)

// autoTLSValidity is how long --auto-tls certificates last (etcd: a year).
const autoTLSValidity = 365 * 24 * time.Hour

// security is a member's TLS configurations, built before anything listens
// so that a missing, unreadable or mismatched file stops the start with an
// error naming it.
type security struct {
	client     *tls.Config // serves https client URLs; nil when none
	peer       *tls.Config // serves https peer URLs; nil when none
	clientDial *tls.Config // dials other members' https client URLs
	peerDial   *tls.Config // dials https peers
}

func buildSecurity(cfg *config.Config, log *slog.Logger) (*security, error) {
	onErr := func(path string, err error) {
		log.Warn("certificate change not loaded; the previous one stays in use", "file", path, "err", err)
	}
	var sec security
	var err error
	client, err := sideInfo(cfg.ClientTLS(), cfg.DataDir, "client", cfg.ListenClientURLs, cfg.AdvertiseClientURLs)
	if err != nil {
		return nil, err
	}
	client.OnReloadError = onErr
	peer, err := sideInfo(cfg.PeerTLS(), cfg.DataDir, "peer", cfg.ListenPeerURLs, cfg.InitialAdvertisePeerURLs)
	if err != nil {
		return nil, err
	}
	peer.OnReloadError = onErr
	if client.HasCert() {
		if sec.client, err = client.ServerConfig(); err != nil {
			return nil, fmt.Errorf("client TLS: %w", err)
		}
	}
	if peer.HasCert() {
		if sec.peer, err = peer.ServerConfig(); err != nil {
			return nil, fmt.Errorf("peer TLS: %w", err)
		}
	}
	if !client.Empty() {
		if sec.clientDial, err = client.ClientConfig(); err != nil {
			return nil, fmt.Errorf("client TLS: %w", err)
		}
	}
	if !peer.Empty() {
		if sec.peerDial, err = peer.ClientConfig(); err != nil {
			return nil, fmt.Errorf("peer TLS: %w", err)
		}
	}
	return &sec, nil
}

// sideInfo completes one side's settings: with --auto-tls and no
// certificate, a self-signed one under <data-dir>/fixtures/<side> for the
// hosts of its URLs.
func sideInfo(info tlsutil.Info, dataDir, side string, urls ...config.URLs) (tlsutil.Info, error) {
	if !info.AutoTLS || info.HasCert() {
		return info, nil
	}
	var hosts []string
	for _, list := range urls {
		for _, u := range list {
			p, err := url.Parse(u)
			if err != nil {
				continue
			}
			if h, _, err := net.SplitHostPort(p.Host); err == nil && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	var err error
	info.CertFile, info.KeyFile, err = tlsutil.SelfSigned(filepath.Join(dataDir, "fixtures", side), hosts, autoTLSValidity)
	return info, err
}
