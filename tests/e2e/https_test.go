package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"metastore/net/tlsutil"
)

// TestHTTPSGatewayWithAuth: the HTTP side of a TLS client port (health and
// the JSON gateway) answers over https with a client certificate, and the
// gateway honours auth tokens as etcd's does (Authorization header).
func TestHTTPSGatewayWithAuth(t *testing.T) {
	sec := newClusterTLSSetup(t, clusterTLS{clientHTTPS: true, clientCertAuth: true, rootPassword: e2eRootPW})
	c := newClusterTLS(t, 1, sec, "--bcrypt-cost=4")
	eps := httpsEps(c)
	setupAuthUsers(t, eps, sec.ctlTLS()...)
	tc, err := tlsutil.Info{CertFile: sec.user.Cert, KeyFile: sec.user.Key, TrustedCAFile: sec.server.CA}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	base := eps[0]
	post := func(path, body, token string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	resp, err := hc.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"health":"true"`) {
		t.Fatalf("/health over https with auth on: %d %s", resp.StatusCode, b)
	}
	// A client without a certificate is refused at the handshake.
	noCert, _ := tlsutil.Info{TrustedCAFile: sec.server.CA}.ClientConfig()
	if _, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}).Get(base + "/health"); err == nil {
		t.Fatal("an https client without a certificate was served")
	}
	code, v := post("/v3/auth/authenticate", `{"name":"alice","password":"apw"}`, "")
	token, _ := v["token"].(string)
	if code != 200 || token == "" {
		t.Fatalf("authenticate through the gateway: %d %v", code, v)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	if code, v := post("/v3/kv/put", `{"key":"`+b64("app/gw")+`","value":"`+b64("1")+`"}`, token); code != 200 {
		t.Fatalf("put app/gw as alice through the gateway: %d %v", code, v)
	}
	code, v = post("/v3/kv/put", `{"key":"`+b64("other")+`","value":"`+b64("1")+`"}`, token)
	if code == 200 || !strings.Contains(toJSON(v), "permission denied") {
		t.Fatalf("put other as alice through the gateway: %d %v", code, v)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
