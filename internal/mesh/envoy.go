package mesh

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Envoy's answers when a sidecar or gateway refuses a request: a local
// reply in plain text, stamped with Envoy's server name (Istio's proxies
// are configured to name themselves istio-envoy).
const (
	// RBACDenied is the body of the RBAC filter's 403.
	RBACDenied = "RBAC: access denied"
	// Server is the server header of every answer through Istio's proxies.
	Server = "istio-envoy"
)

// WriteLocal writes one of Envoy's local replies.
func WriteLocal(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Server", Server)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// WriteDenied is the RBAC filter's refusal: 403 "RBAC: access denied".
func WriteDenied(w http.ResponseWriter) { WriteLocal(w, http.StatusForbidden, RBACDenied) }

// WriteJWTFailure is jwt_authn's refusal: 401, its failure text, and a
// Bearer challenge naming the request's URL.
func WriteJWTFailure(w http.ResponseWriter, r *http.Request, failure string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s%s", error="invalid_token"`, r.Host, r.URL.Path))
	WriteLocal(w, http.StatusUnauthorized, failure)
}

// Outcome is what the filters after ext_authz made of one request.
type Outcome struct {
	Authn   Authn
	Verdict Verdict
}

// Allowed reports whether the request goes on to the workload.
func (o Outcome) Allowed() bool { return o.Authn.Failure == "" && o.Verdict.Allowed }

// Filter runs what Istio puts after the CUSTOM ext_authz filter in a
// proxy's chain — jwt_authn (RequestAuthentication), then rbac (DENY and
// ALLOW) — on hr, as it reaches workload w. req carries the connection's
// facts (peer, addresses, port); its HTTP fields are filled from hr. When
// the request is refused, Filter writes Envoy's answer to rw; otherwise hr
// leaves changed as jwt_authn changes it.
func (c *Config) Filter(ctx context.Context, a *Authenticator, w Workload, req Request, rw http.ResponseWriter, hr *http.Request) Outcome {
	var out Outcome
	out.Authn = a.Authenticate(ctx, c.JWTRules(w), hr)
	if out.Authn.Failure != "" {
		WriteJWTFailure(rw, hr, out.Authn.Failure)
		return out
	}
	req.Method, req.Host, req.Path, req.Header, req.JWT = hr.Method, hr.Host, hr.URL.RequestURI(), hr.Header, out.Authn.Identity
	out.Verdict = c.Authorize(w, &req)
	if !out.Verdict.Allowed {
		WriteDenied(rw)
	}
	return out
}
