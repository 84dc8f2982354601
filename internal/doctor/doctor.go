// Package doctor turns the doctor's configuration into a target, runs the
// probes and returns the report. The CLI only parses flags and maps the
// outcome to an exit code.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// Environment variables the doctor reads.
const (
	EnvHost    = "KF_PIPELINES_ENDPOINT" // as the SDK
	EnvToken   = "KFP_DOCTOR_TOKEN"
	EnvCookies = "KFP_DOCTOR_COOKIES"
)

// Config is everything the user told the doctor.
type Config struct {
	Host      string
	Namespace string
	// TokenPath is --token-path; "" means $KF_PIPELINES_SA_TOKEN_PATH, then
	// the default path if a file is there.
	TokenPath string
	// TokenFile is --token-file: a static token (existing_token).
	TokenFile          string
	Cookies            string // raw, or @file
	CACert             string
	InsecureSkipVerify bool
	Timeout            time.Duration
	Strict             bool
	Getenv             func(string) string
	// Stat is os.Stat, replaceable in tests that pretend to be in a pod.
	Stat func(string) (os.FileInfo, error)
	// DefaultTokenPath replaces credentials.DefaultTokenPath: the suites run
	// the doctor as a pod whose projected volume is a temporary directory.
	DefaultTokenPath string
	// Dial replaces the network dialer (the suites reach cluster Service
	// names through the cluster's own objects, as a pod would).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// UsageError is a problem with what the user asked for (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error { return &UsageError{Err: fmt.Errorf(format, args...)} }

// Run checks the connection and returns the report. Its error is a usage
// error; everything the probes find is in the report.
func Run(ctx context.Context, cfg Config, red *redact.Redactor) (*report.Report, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Stat == nil {
		cfg.Stat = os.Stat
	}
	if cfg.Timeout <= 0 {
		return nil, usage("--timeout must be positive, got %s", cfg.Timeout)
	}
	target, details, err := buildTarget(cfg, red)
	if err != nil {
		return nil, err
	}
	defer target.Client.CloseIdle()

	runner, err := probe.NewRunner(probes.Doctor())
	if err != nil {
		return nil, fmt.Errorf("internal: %w", err)
	}
	runner.Redact = red
	runner.DefaultTimeout = min(3*time.Second, cfg.Timeout)

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	start := time.Now()
	results := runner.Run(ctx, target)
	return &report.Report{
		Target: target.Client.Base().Redacted(), Details: details, Results: results,
		Elapsed: time.Since(start), Strict: cfg.Strict, Redact: red,
	}, nil
}

func buildTarget(cfg Config, red *redact.Redactor) (*probes.Target, string, error) {
	host := cfg.Host
	if host == "" {
		host = cfg.Getenv(EnvHost)
	}
	if host == "" {
		return nil, "", usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s", EnvHost)
	}
	base, err := kfp.ParseHost(host)
	if err != nil {
		return nil, "", usage("--host: %w", err)
	}
	t := &probes.Target{Namespace: cfg.Namespace, InPod: cfg.Getenv("KUBERNETES_SERVICE_HOST") != ""}
	var details []string
	if cfg.Namespace != "" {
		details = append(details, "namespace "+cfg.Namespace)
	}
	if !strings.Contains(host, "://") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}

	// A static token and a token file are two answers to one question.
	static, err := staticToken(cfg, red)
	if err != nil {
		return nil, "", err
	}
	tokenPath := credentials.ResolveTokenPath(cfg.TokenPath, cfg.Getenv)
	if cfg.TokenPath == "" && cfg.Getenv(credentials.TokenPathEnv) == "" && cfg.DefaultTokenPath != "" {
		tokenPath = cfg.DefaultTokenPath
	}
	explicitPath := cfg.TokenPath != "" || cfg.Getenv(credentials.TokenPathEnv) != ""
	switch {
	case static != nil && cfg.TokenPath != "":
		return nil, "", usage("--token-path and --token-file/%s both name a token: pass one", EnvToken)
	case static != nil:
		t.Bearer = static
	case explicitPath:
		t.TokenFile = &credentials.TokenFile{Path: tokenPath, Redactor: red}
	default:
		// The SDK's in-cluster default: use the PodDefault's token if present.
		if _, err := cfg.Stat(tokenPath); err == nil {
			t.TokenFile = &credentials.TokenFile{Path: tokenPath, Redactor: red}
		}
	}
	var chain credentials.Chain
	switch {
	case t.TokenFile != nil:
		chain = append(chain, t.TokenFile)
		details = append(details, t.TokenFile.String())
	case t.Bearer != nil:
		chain = append(chain, t.Bearer)
		details = append(details, t.Bearer.String())
	}
	if c, err := cookies(cfg, red); err != nil {
		return nil, "", err
	} else if c != nil {
		t.Cookies = c
		chain = append(chain, c)
		details = append(details, c.String())
	}
	if len(chain) == 0 {
		details = append(details, "no credentials")
	}
	var creds kfp.Credentials
	if len(chain) > 0 {
		creds = chain
	}
	client, err := kfp.NewClient(base, creds, kfp.Options{CACertFile: cfg.CACert, InsecureSkipVerify: cfg.InsecureSkipVerify, DialTimeout: min(2*time.Second, cfg.Timeout), DialContext: cfg.Dial})
	if err != nil {
		return nil, "", usage("%w", err)
	}
	t.Client = client
	return t, strings.Join(details, " · "), nil
}

func staticToken(cfg Config, red *redact.Redactor) (*credentials.Bearer, error) {
	if cfg.TokenFile != "" {
		b, err := credentials.BearerFromFile(cfg.TokenFile, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return b, nil
	}
	b, ok, err := credentials.BearerFromEnv(EnvToken, cfg.Getenv, red)
	if err != nil {
		return nil, usage("%w", err)
	}
	if !ok {
		return nil, nil
	}
	return b, nil
}

func cookies(cfg Config, red *redact.Redactor) (*credentials.Cookies, error) {
	raw := cfg.Cookies
	if raw == "" {
		raw = cfg.Getenv(EnvCookies)
	}
	if raw == "" {
		return nil, nil
	}
	if path, ok := strings.CutPrefix(raw, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usage("reading --cookies file: %w", err)
		}
		raw = string(b)
	}
	c, err := credentials.NewCookies(raw, red)
	if err != nil {
		return nil, usage("--cookies / %s: %w", EnvCookies, err)
	}
	return c, nil
}

// IsUsage reports a usage error.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
