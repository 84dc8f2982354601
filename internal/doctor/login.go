package doctor

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/localfile"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// maxPassword bounds what --password-stdin reads: a password, not a file.
const maxPassword = 4 << 10

// loginPlan is the login part of a plan: the flow, and the host it puts in
// front of KFP (the gateway's /pipeline, where a kfp.Client behind the
// gateway points).
type loginPlan struct {
	login   *probes.Login
	host    string
	details string
}

// planLogin prepares the login when --username is given: the password from
// $KFP_DOCTOR_PASSWORD or stdin, the gateway from the given host. It returns
// no plan (and no error) without --username. The flow's HTTP client goes
// through the run's one transport.
func planLogin(ctx context.Context, cfg Config, s Seams, given GivenHost, d Deadlines, transport func() (http.RoundTripper, error), red *redact.Redactor) (*loginPlan, error) {
	if cfg.Username == "" {
		return nil, nil
	}
	if given.Value == "" {
		return nil, usage("--username logs in through Kubeflow's gateway: pass --host with its address (for example http://localhost:8080 after `kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80`)")
	}
	if cfg.Cookies != "" || s.Getenv(EnvCookies) != "" {
		return nil, usage("--username gets a session by logging in, and --cookies/$%s give one: pass one of them", EnvCookies)
	}
	password, err := readPassword(ctx, cfg, s, d)
	if err != nil {
		return nil, err
	}
	red.Add(password)
	base, err := kfp.ParseHost(given.Value)
	if err != nil {
		return nil, usage("%s: %w", given.Flag(), err)
	}
	// The host may name the gateway or, as kfp.Client is given it, the
	// gateway's /pipeline: the login starts at the gateway either way.
	gateway := *base
	gateway.Path = strings.TrimSuffix(gateway.Path, "/pipeline")
	details := []string{"gateway " + gateway.Redacted() + " (KFP at its /pipeline)"}
	if !strings.Contains(given.Value, "://") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}
	rt, err := transport()
	if err != nil {
		return nil, err
	}
	flow, err := login.New(login.Config{
		Gateway: &gateway, Username: cfg.Username, Password: password, Connector: cfg.LoginConnector,
		HTTPClient:     func() *http.Client { return &http.Client{Transport: rt, Timeout: d.LoginRequest} },
		RequestTimeout: d.LoginRequest, Redactor: red,
	})
	if err != nil {
		return nil, usage("--username/--login-connector: %w", err)
	}
	return &loginPlan{
		login:   &probes.Login{Flow: flow, Redactor: red},
		host:    strings.TrimRight(gateway.String(), "/") + "/pipeline",
		details: strings.Join(details, " · "),
	}, nil
}

// readPassword takes the first line of stdin with --password-stdin, else
// $KFP_DOCTOR_PASSWORD. Only the line ending is trimmed: spaces may belong to
// the password.
func readPassword(ctx context.Context, cfg Config, s Seams, d Deadlines) (string, error) {
	if !cfg.PasswordStdin {
		pw := s.Getenv(EnvPassword)
		if pw == "" {
			return "", usage("--username %s needs a password: set $%s, or pipe it in with --password-stdin (never a flag: flag values show in ps)", cfg.Username, EnvPassword)
		}
		return pw, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.PasswordRead)
	defer cancel()
	pw, err := localfile.ReadFirstLine(ctx, s.Stdin, maxPassword, "--password-stdin")
	switch {
	case errors.Is(err, localfile.ErrEmpty):
		return "", usage("--password-stdin: stdin held no password (printf '%%s\\n' \"$PASSWORD\" | kfp-doctor … --password-stdin)")
	case errors.Is(err, localfile.ErrTooLarge):
		return "", usage("--password-stdin: the first line of stdin is longer than %d bytes: not a password", maxPassword)
	case err != nil:
		return "", usage("%w", err)
	}
	return pw, nil
}
