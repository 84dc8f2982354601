// Package redact keeps secrets out of everything the doctor prints. Two layers:
// the exact secrets we handled (tokens read from files, cookie values,
// passwords) are registered and replaced wherever they appear, and shapes that
// look like secrets (JWTs, Bearer values, Cookie headers) are masked even when
// we never saw them, because a server may echo a credential back.
package redact

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// minSecret is the shortest value registered as an exact secret: shorter ones
// (say "a=b" cookie values) would mask ordinary words.
const minSecret = 4

var (
	jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// Real bearer values are long; requiring 8 characters keeps prose such as
	// "bearer token" readable.
	bearerShape = regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`)
	cookieShape = regexp.MustCompile(`(?i)((?:set-)?cookie:\s*)[^\r\n"]+`)
	// Session cookies of the Kubeflow login stack, wherever they show up.
	sessionShape  = regexp.MustCompile(`((?:oauth2_proxy_kubeflow|authservice_session|oauth2_proxy_kubeflow_csrf|dex_session)[A-Za-z0-9_]*=)[^;\s"']+`)
	passwordShape = regexp.MustCompile(`(?i)((?:password|passwd)=)[^&\s"']+`)
)

// Redactor masks registered secrets and secret-shaped text. It is safe for
// concurrent use; the zero value is ready.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]struct{}
}

// Add registers exact secret values. Empty and very short values are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]struct{}{}
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) >= minSecret {
			r.secrets[s] = struct{}{}
		}
	}
}

// AddCookies registers a raw Cookie header and each of its values.
func (r *Redactor) AddCookies(raw string) {
	r.Add(raw)
	for _, part := range strings.Split(raw, ";") {
		if _, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			r.Add(v)
		}
	}
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	r.mu.RLock()
	list := make([]string, 0, len(r.secrets))
	for k := range r.secrets {
		list = append(list, k)
	}
	r.mu.RUnlock()
	// Longest first, so a secret that contains another is masked whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, k := range list {
		s = strings.ReplaceAll(s, k, Mask)
	}
	return Shapes(s)
}

// Shapes masks secret-shaped text only (no registered secrets).
func Shapes(s string) string {
	s = jwtShape.ReplaceAllString(s, Mask)
	s = bearerShape.ReplaceAllString(s, "${1}"+Mask)
	s = cookieShape.ReplaceAllString(s, "${1}"+Mask)
	s = sessionShape.ReplaceAllString(s, "${1}"+Mask)
	s = passwordShape.ReplaceAllString(s, "${1}"+Mask)
	return s
}
