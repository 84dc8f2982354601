package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// Kubeflow ≤ 1.8's login: arrikto/oidc-authservice as the gateway's
// ext_authz, in front of the same Dex. That program is not served by the Go
// module proxy, so this is a stand-in held to the chain kfp-facts.md
// records: an unauthenticated request is redirected into Dex's /dex/auth
// (client kubeflow-oidc-authservice, redirect_uri /authservice/oidc/callback,
// as Kubeflow 1.8's Dex client registers it), the callback exchanges the
// code at Dex's token endpoint, verifies the ID token, sets the session
// cookie authservice_session and sends the browser back where it started;
// requests with the cookie go on with kubeflow-userid set to the email.
// It runs inside the gateway stand-in instead of as its own StatefulSet.
const (
	authServicePrefix   = "/authservice/"
	authServiceCallback = "/authservice/oidc/callback"
	authServiceCookie   = "authservice_session"
	authServiceState    = "oidc_state_csrf"
	authServiceScopes   = "openid profile email groups"
	maxSessions         = 10000
)

// AuthServiceConfig is authservice's Dex client.
type AuthServiceConfig struct {
	ClientID, ClientSecret string
}

type authService struct {
	cfg      AuthServiceConfig
	tokenURL string
	gw       *gateway // verifies the ID token with its RequestAuthentications
	client   *http.Client

	mu       sync.Mutex
	sessions map[string]string // cookie → email
	states   map[string]string // state → where the browser started
}

func newAuthService(cfg AuthServiceConfig, dex string, gw *gateway, transport http.RoundTripper) *authService {
	if cfg.ClientID == "" {
		cfg.ClientID = "kubeflow-oidc-authservice"
	}
	return &authService{cfg: cfg, tokenURL: strings.TrimSuffix(dex, "/") + "/dex/token", gw: gw,
		client:   &http.Client{Transport: transport, Timeout: extAuthzTimeout},
		sessions: map[string]string{}, states: map[string]string{}}
}

// check is the ext_authz decision.
func (a *authService) check(w http.ResponseWriter, r *http.Request) (http.Header, bool) {
	if c, err := r.Cookie(authServiceCookie); err == nil {
		a.mu.Lock()
		email := a.sessions[c.Value]
		a.mu.Unlock()
		if email != "" {
			return http.Header{UserIDHeader: {email}}, true
		}
	}
	state := randomHex(16)
	a.mu.Lock()
	if len(a.states) >= maxSessions {
		a.states = map[string]string{}
	}
	a.states[state] = r.URL.RequestURI()
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: authServiceState, Value: state, Path: "/", HttpOnly: true})
	q := url.Values{"client_id": {a.cfg.ClientID}, "redirect_uri": {authServiceCallback},
		"response_type": {"code"}, "scope": {authServiceScopes}, "state": {state}}
	http.Redirect(w, r, "/dex/auth?"+q.Encode(), http.StatusFound)
	return nil, false
}

// serveCallback finishes the login.
func (a *authService) serveCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", mesh.Server)
	if r.URL.Path != authServiceCallback {
		http.NotFound(w, r)
		return
	}
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(authServiceState)
	a.mu.Lock()
	back, known := a.states[state]
	delete(a.states, state)
	a.mu.Unlock()
	if err != nil || c.Value != state || !known {
		http.Error(w, "CSRF check failed: the state does not match", http.StatusBadRequest)
		return
	}
	email, err := a.redeem(r.Context(), r.URL.Query().Get("code"))
	if err != nil {
		http.Error(w, "Failed to exchange authorization code with token: "+err.Error(), http.StatusUnauthorized)
		return
	}
	session := randomHex(32)
	a.mu.Lock()
	if len(a.sessions) >= maxSessions {
		a.sessions = map[string]string{}
	}
	a.sessions[session] = email
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: authServiceState, Value: "", Path: "/", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: authServiceCookie, Value: session, Path: "/", HttpOnly: true, Expires: time.Now().Add(24 * time.Hour)})
	http.Redirect(w, r, back, http.StatusFound)
}

// redeem exchanges the code at Dex's token endpoint and verifies the ID
// token against Dex's keys, as the dex-jwt rule would.
func (a *authService) redeem(ctx context.Context, code string) (string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {authServiceCallback}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered HTTP %d", resp.StatusCode)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		return "", fmt.Errorf("token endpoint answered no id_token")
	}
	// The ID token meets the gateway's RequestAuthentications as a Bearer
	// would: Dex's rule (dex-jwt) verifies it.
	check := &http.Request{Header: http.Header{"Authorization": {"Bearer " + tok.IDToken}}, URL: &url.URL{Path: authServiceCallback}}
	res := a.gw.authn.Authenticate(ctx, a.gw.mesh.Config().JWTRules(a.gw.workload), check)
	if res.Failure != "" {
		return "", fmt.Errorf("ID token: %s", res.Failure)
	}
	if res.Identity == nil {
		return "", fmt.Errorf("ID token: no RequestAuthentication of the gateway names Dex's issuer")
	}
	email, _ := res.Identity.Claims["email"].(string)
	if email == "" {
		return "", fmt.Errorf("ID token has no email claim")
	}
	return email, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
