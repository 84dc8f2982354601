package doctor

import (
	"context"
	"net/http"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// storedHeader is context.json's client_authentication_header_name/_value,
// which the SDK's ApiClient sends on every request.
type storedHeader struct{ name, value string }

func (h storedHeader) Apply(req *http.Request) error {
	req.Header.Set(h.name, h.value)
	return nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func staticToken(ctx context.Context, cfg Config, s Seams, red *redact.Redactor) (*credentials.Bearer, error) {
	if cfg.Token != "" {
		b, err := credentials.NewBearer(cfg.Token, cfg.TokenSource, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return b, nil
	}
	if cfg.ClientConfig != "" {
		return nil, nil // the described call has no token; the doctor's variable is not the call's
	}
	if cfg.TokenFile != "" {
		b, err := credentials.BearerFromFile(ctx, cfg.TokenFile, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return b, nil
	}
	b, ok, err := credentials.BearerFromEnv(EnvToken, s.Getenv, red)
	if err != nil {
		return nil, usage("%w", err)
	}
	if !ok {
		return nil, nil
	}
	return b, nil
}

func cookies(ctx context.Context, cfg Config, s Seams, red *redact.Redactor) (*credentials.Cookies, error) {
	raw := cfg.Cookies
	if raw == "" && cfg.ClientConfig == "" {
		raw = s.Getenv(EnvCookies)
	}
	if raw == "" {
		return nil, nil
	}
	if path, ok := strings.CutPrefix(raw, "@"); ok && cfg.ClientConfig == "" {
		c, err := credentials.CookiesFromFile(ctx, path, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return c, nil
	}
	c, err := credentials.NewCookies(raw, red)
	if err != nil {
		return nil, usage("--cookies / %s: %w", EnvCookies, err)
	}
	return c, nil
}
