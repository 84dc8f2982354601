package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// sessionCookies logs in through the gateway as a user's own script would
// and hands the session's cookies to the client (kfp.Client(cookies=…)).
// With ExpireSession it then waits until the gateway refuses them.
func sessionCookies(ctx context.Context, p scenarios.Client, gateway string, cfg *doctorCall, step Step) error {
	gw, err := url.Parse(gateway)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sess, _, err := login.Login(lctx, login.Config{Gateway: gw, Username: p.Session.Username, Password: p.Session.Password, Connector: p.Session.Connector})
	if err != nil {
		return fmt.Errorf("logging in as %s to get a session: %w", p.Session.Username, err)
	}
	if sess == nil {
		return fmt.Errorf("the gateway at %s has no login to get a session from", gateway)
	}
	cfg.Cookies = sess.Cookie
	step("logged in as %s; the client sends cookies %v", p.Session.Username, sess.Names)
	if !p.ExpireSession {
		return nil
	}
	// Until the gateway no longer takes the cookie: an API path answers
	// 401 once oauth2-proxy finds the session expired.
	client := &http.Client{Timeout: 3 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	probe := gateway + p.Host + "/apis/v2beta1/healthz"
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
		req.Header.Set("Cookie", sess.Cookie)
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized, nil
	})
	if err != nil {
		return fmt.Errorf("the session of %s never expired: %w", p.Session.Username, err)
	}
	step("waited until the gateway refused the session (fault)")
	return nil
}
