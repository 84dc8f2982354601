// Package credentials puts a kfp.Client's identity on a request the way the SDK
// does: a ServiceAccount token file re-read on every request, a static bearer
// token (existing_token), a raw Cookie string (cookies=). Every secret is
// registered with the redactor the moment it is read.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/localfile"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// minTokenLike is the length from which a --token-file value that names no
// file is treated as a possible token (real ones are hundreds of bytes).
const minTokenLike = 16

// DefaultTokenPath is where Kubeflow's PodDefault mounts the projected token.
// Which path a call reads (its argument, $KF_PIPELINES_SA_TOKEN_PATH, this
// default) is the SDK model's rule: sdkmodel.VolumeTokenPath.
const DefaultTokenPath = sdkmodel.DefaultTokenPath

// TokenPathEnv overrides DefaultTokenPath, as in the SDK.
const TokenPathEnv = sdkmodel.EnvTokenPath

// TokenFile is ServiceAccountTokenVolumeCredentials: the kubelet rotates the
// projected token, so the file is read again for every request.
type TokenFile struct {
	Path     string
	Redactor *redact.Redactor
}

// Read returns the token in the file now, read through the bounded reader
// (a size cap, no FIFOs or devices) under ctx.
func (t *TokenFile) Read(ctx context.Context) (string, error) {
	b, err := localfile.Read(ctx, t.Path, localfile.Token)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", t.Path)
	}
	if t.Redactor != nil {
		t.Redactor.Add(tok)
	}
	if err := HeaderSafe(tok); err != nil {
		return "", fmt.Errorf("the token in %s %w", t.Path, err)
	}
	return tok, nil
}

// Apply sets Authorization: Bearer with the file's current token.
func (t *TokenFile) Apply(req *http.Request) error {
	tok, err := t.Read(req.Context())
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

// BearerFromFile reads a static token from a file, through the bounded
// reader. A value that names no file, has no directory in it and is as long
// as a token may be the token itself, passed by mistake: it is registered as
// a secret before any message can quote it. (Short names are not: a missing
// "token" must not mask that word everywhere.)
func BearerFromFile(ctx context.Context, path string, r *redact.Redactor) (*Bearer, error) {
	b, err := localfile.Read(ctx, path, localfile.Token)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && len(path) >= minTokenLike && !strings.ContainsRune(path, filepath.Separator) && r != nil {
			r.Add(path)
			return nil, fmt.Errorf("--token-file: %w (it takes the path of a file holding the token, never the token itself)", err)
		}
		return nil, fmt.Errorf("--token-file: %w", err)
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

// NewBearer is a static token given as a value (a kfp.Client's
// existing_token= read back by the Python package); source names its origin.
func NewBearer(token, source string, r *redact.Redactor) (*Bearer, error) {
	return newBearer(token, source, r)
}

func newBearer(raw, source string, r *redact.Redactor) (*Bearer, error) {
	tok := strings.TrimSpace(raw)
	tok = strings.TrimPrefix(tok, "Bearer ")
	if tok == "" {
		return nil, fmt.Errorf("%s is empty", source)
	}
	if r != nil {
		r.Add(tok)
	}
	if strings.ContainsAny(tok, " \r\n\t") {
		return nil, fmt.Errorf("%s holds more than one word; it must hold only the token", source)
	}
	return &Bearer{token: tok, source: source}, nil
}

// Token returns the token, for inspection.
func (b *Bearer) Token() string { return b.token }

// Apply sets Authorization: Bearer.
func (b *Bearer) Apply(req *http.Request) error {
	if err := HeaderSafe(b.token); err != nil {
		return fmt.Errorf("the token from %s %w", b.source, err)
	}
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

// CookiesFromFile reads a --cookies @file through the bounded reader.
func CookiesFromFile(ctx context.Context, path string, r *redact.Redactor) (*Cookies, error) {
	b, err := localfile.Read(ctx, path, localfile.Cookies)
	if err != nil {
		return nil, fmt.Errorf("--cookies @file: %w", err)
	}
	return NewCookies(string(b), r)
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
	if err := HeaderSafe(c.raw); err != nil {
		return fmt.Errorf("the cookie string %w", err)
	}
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
