package mesh

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ExtAuthzCheck asks a CUSTOM policy's extension provider (an
// envoyExtAuthzHttp of the mesh config) about r, as Envoy's ext_authz
// filter does: the same method and path (after pathPrefix) on the
// provider's service, the client's Host, and the headers
// includeRequestHeadersInCheck names. A 2xx allows, and the answer's
// headersToUpstreamOnAllow go on with r; any other answer goes back to the
// client with its status, body and headersToDownstreamOnDeny (Envoy always
// passes Location and WWW-Authenticate), and the request stops. A provider
// that cannot be reached, or one the mesh config does not define, is
// Envoy's 403 with an empty body (failure_mode_allow is false).
func ExtAuthzCheck(ctx context.Context, c *Config, provider string, transport http.RoundTripper, w http.ResponseWriter, r *http.Request) bool {
	p, ok := c.Providers[provider]
	if !ok || p.ExtAuthzHTTP == nil {
		denyEmpty(w)
		return false
	}
	e := p.ExtAuthzHTTP
	timeout := 10 * time.Second
	if d, err := time.ParseDuration(e.Timeout); err == nil && d > 0 {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := fmt.Sprintf("http://%s:%d%s%s", e.Service, e.Port, strings.TrimSuffix(e.PathPrefix, "/"), r.URL.RequestURI())
	req, err := http.NewRequestWithContext(ctx, r.Method, target, nil)
	if err != nil {
		denyEmpty(w)
		return false
	}
	req.Host = r.Host
	for _, h := range e.IncludeRequestHeadersInCheck {
		if vs := r.Header.Values(h); vs != nil {
			req.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", r.Host)
	if transport == nil {
		transport = http.DefaultTransport
	}
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		denyEmpty(w)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		for _, h := range e.HeadersToUpstreamOnAllow {
			if strings.EqualFold(h, "path") {
				continue // a path rewrite, which Kubeflow's oauth2-proxy never asks for
			}
			if vs := resp.Header.Values(h); vs != nil {
				r.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
		return true
	}
	deny := append(slices.Clone(e.HeadersToDownstreamOnDeny), "Location", "WWW-Authenticate")
	for _, h := range deny {
		if vs := resp.Header.Values(h); vs != nil {
			w.Header()[http.CanonicalHeaderKey(h)] = vs
		}
	}
	w.Header().Set("Server", Server)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
	return false
}

// denyEmpty is Envoy's answer when the authorization server fails: 403,
// no body.
func denyEmpty(w http.ResponseWriter) {
	w.Header().Set("Server", Server)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusForbidden)
}
