// Package credentials puts a kfp.Client's identity on a request the way the SDK
// does: a ServiceAccount token file re-read on every request, a static bearer
// token (existing_token), a raw Cookie string (cookies=). Every secret is
// registered with the redactor the moment it is read.
package credentials

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// DefaultTokenPath is where Kubeflow's PodDefault mounts the projected token.
const DefaultTokenPath = "/var/run/secrets/kubeflow/pipelines/token"

// TokenPathEnv overrides DefaultTokenPath, as in the SDK.
const TokenPathEnv = "KF_PIPELINES_SA_TOKEN_PATH"

// ResolveTokenPath picks the token path as the SDK does: an explicit path,
// then KF_PIPELINES_SA_TOKEN_PATH, then the default.
func ResolveTokenPath(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if p := getenv(TokenPathEnv); p != "" {
		return p
	}
	return DefaultTokenPath
}

// TokenFile is ServiceAccountTokenVolumeCredentials: the kubelet rotates the
// projected token, so the file is read again for every request.
type TokenFile struct {
	Path     string
	Redactor *redact.Redactor
}

// Read returns the token in the file now.
func (t *TokenFile) Read() (string, error) {
	b, err := os.ReadFile(t.Path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("token file %s does not exist", t.Path)
		case errors.Is(err, os.ErrPermission):
			return "", fmt.Errorf("token file %s is not readable by this user", t.Path)
		}
		return "", fmt.Errorf("reading token file %s: %w", t.Path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", t.Path)
	}
	if t.Redactor != nil {
		t.Redactor.Add(tok)
	}
	return tok, nil
}

// Apply sets Authorization: Bearer with the file's current token.
func (t *TokenFile) Apply(req *http.Request) error {
	tok, err := t.Read()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

func (t *TokenFile) String() string {
	return "ServiceAccount token file " + t.Path + " (re-read per request)"
}

// Bearer is a static token, the SDK's existing_token. It is read from a file
// or an environment variable, never from a command-line value, which other
// users of the machine can see.
type Bearer struct {
	token  string
	source string
}

// BearerFromFile reads a static token from a file.
func BearerFromFile(path string, r *redact.Redactor) (*Bearer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --token-file: %w", err)
	}
	return newBearer(string(b), "token file "+path, r)
}

// BearerFromEnv reads a static token from an environment variable; ok is
// false when the variable is unset.
func BearerFromEnv(name string, getenv func(string) string, r *redact.Redactor) (b *Bearer, ok bool, err error) {
	v := getenv(name)
	if v == "" {
		return nil, false, nil
	}
	b, err = newBearer(v, "$"+name, r)
	return b, true, err
}

func newBearer(raw, source string, r *redact.Redactor) (*Bearer, error) {
	tok := strings.TrimSpace(raw)
	tok = strings.TrimPrefix(tok, "Bearer ")
	if tok == "" {
		return nil, fmt.Errorf("%s is empty", source)
	}
	if strings.ContainsAny(tok, " \r\n\t") {
		return nil, fmt.Errorf("%s holds more than one word; it must hold only the token", source)
	}
	if r != nil {
		r.Add(tok)
	}
	return &Bearer{token: tok, source: source}, nil
}

// Token returns the token, for inspection.
func (b *Bearer) Token() string { return b.token }

// Apply sets Authorization: Bearer.
func (b *Bearer) Apply(req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+b.token)
	return nil
}

func (b *Bearer) String() string { return "static token from " + b.source }

// Cookies is the SDK's cookies=: a raw Cookie header.
type Cookies struct{ raw string }

// NewCookies validates a raw cookie string ("a=1; b=2").
func NewCookies(raw string, r *redact.Redactor) (*Cookies, error) {
	raw = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "Cookie:"))
	if raw == "" {
		return nil, errors.New("cookie string is empty")
	}
	if strings.ContainsAny(raw, "\r\n") {
		return nil, errors.New("cookie string must be one line")
	}
	for _, part := range strings.Split(raw, ";") {
		if name, _, ok := strings.Cut(strings.TrimSpace(part), "="); !ok || name == "" {
			return nil, errors.New("cookie string must look like \"name=value; name2=value2\"")
		}
	}
	if r != nil {
		r.AddCookies(raw)
	}
	return &Cookies{raw: raw}, nil
}

// Names lists the cookie names, which are safe to print.
func (c *Cookies) Names() []string {
	var out []string
	for _, part := range strings.Split(c.raw, ";") {
		if name, _, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			out = append(out, name)
		}
	}
	return out
}

// Apply sets the Cookie header.
func (c *Cookies) Apply(req *http.Request) error {
	req.Header.Set("Cookie", c.raw)
	return nil
}

func (c *Cookies) String() string { return "cookies " + strings.Join(c.Names(), ", ") }

// Applier is anything that puts credentials on a request.
type Applier interface {
	Apply(req *http.Request) error
}

// Chain applies several credentials in order (a token and cookies may both be
// set, as in the SDK).
type Chain []Applier

// Apply applies every credential; the first error stops.
func (c Chain) Apply(req *http.Request) error {
	for _, a := range c {
		if err := a.Apply(req); err != nil {
			return err
		}
	}
	return nil
}
