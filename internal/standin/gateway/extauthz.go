package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
)

// Kubeflow's envoyExtAuthzHttp provider for oauth2-proxy (common/oauth2-proxy
// components/istio-external-auth-patches, the mesh config's
// extensionProviders): what goes into the check, what comes back upstream on
// allow, and what goes back to the client on deny. Envoy always adds
// Location, WWW-Authenticate and the status to a denial; the path header it
// may take on allow is a path rewrite, which Kubeflow's oauth2-proxy never
// asks for, so it is not modelled.
var (
	includeInCheck     = []string{"Authorization", "Cookie"}
	headersOnAllow     = []string{"Authorization", "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-User"}
	headersOnDeny      = []string{"Content-Type", "Set-Cookie", "Location", "Www-Authenticate"}
	maxExtAuthzDenyLen = 1 << 20
)

// oauth2ProxyExtAuthz asks oauth2-proxy about each request as Envoy does: the
// same method and path (and query) on the authorizer's Service, the client's
// Host, and the headers Kubeflow includes in the check. A 2xx allows; any
// other answer — oauth2-proxy's sign-in page, its redirect into Dex, its 401
// for API paths — goes back to the client as it came. An authorizer that
// cannot be reached is Envoy's 403 with an empty body (failure_mode_allow
// is false).
func oauth2ProxyExtAuthz(service string, transport http.RoundTripper) ExtAuthz {
	base := strings.TrimSuffix(service, "/")
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(w http.ResponseWriter, r *http.Request) (http.Header, bool) {
		ctx, cancel := context.WithTimeout(r.Context(), extAuthzTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, r.Method, base+r.URL.RequestURI(), nil)
		if err != nil {
			denyEmpty(w)
			return nil, false
		}
		req.Host = r.Host
		for _, h := range includeInCheck {
			if vs := r.Header.Values(h); vs != nil {
				req.Header[h] = vs
			}
		}
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", r.Host)
		resp, err := client.Do(req)
		if err != nil {
			denyEmpty(w)
			return nil, false
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			up := http.Header{}
			for _, h := range headersOnAllow {
				if vs := resp.Header.Values(h); vs != nil {
					up[h] = vs
				}
			}
			return up, true
		}
		for _, h := range headersOnDeny {
			if vs := resp.Header.Values(h); vs != nil {
				w.Header()[h] = vs
			}
		}
		w.Header().Set("Server", "istio-envoy")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, int64(maxExtAuthzDenyLen)))
		return nil, false
	}
}

// denyEmpty is Envoy's answer when the authorization server fails: 403,
// no body.
func denyEmpty(w http.ResponseWriter) {
	w.Header().Set("Server", "istio-envoy")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusForbidden)
}
