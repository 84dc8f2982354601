// Package redact keeps secrets out of everything the doctor prints. Two layers:
// the exact secrets we handled (tokens read from files, cookie values,
// passwords) are registered once, in every form a server may echo them back
// in, and replaced wherever they appear; and shapes that look like secrets
// (JWTs, Bearer values, Cookie headers, user-info in URLs, secret flag
// values) are masked even when we never saw them.
//
// Masking comes before any cut: Cut and CutTail mask the whole text first and
// only then shorten it, so a secret that straddles a cut can never leave its
// first (or last) characters behind. Every place that shortens text the
// doctor prints goes through them.
package redact

import (
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kfp-connect/kfp-connect/internal/lazyre"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// Ellipsis marks where text was cut.
const Ellipsis = "…"

// minSecret is the shortest value registered as an exact secret: shorter ones
// (say "a=b" cookie values) would mask ordinary words.
const minSecret = 4

// minDerived is the shortest derived form (an encoding, or the part of a
// base64 form that does not depend on its neighbours) worth masking: short
// base64 runs occur in ordinary text.
const minDerived = 8

var (
	jwtShape = lazyre.New(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// Real bearer values are long; requiring 8 characters keeps prose such as
	// "bearer token" readable.
	bearerShape = lazyre.New(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`)
	cookieShape = lazyre.New(`(?i)((?:set-)?cookie:\s*)[^\r\n"]+`)
	// Session cookies of the Kubeflow login stack, wherever they show up.
	sessionShape  = lazyre.New(`((?:oauth2_proxy_kubeflow|authservice_session|oauth2_proxy_kubeflow_csrf|dex_session)[A-Za-z0-9_]*=)[^;\s"']+`)
	passwordShape = lazyre.New(`(?i)((?:password|passwd)=)[^&\s"']+`)
	// User-info in a URL ("https://user:pass@host"), also when the URL is
	// malformed: everything between "//" and the last "@" before the host.
	userInfoShape = lazyre.New(`(?i)((?:^|[^A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s"'<>@]*@`)
	// A secret flag's value in any spelling (-cookies=…, --token=…), as a
	// flag parser echoes it in its error; paths (@file, /…, ./…) are kept.
	flagShape = lazyre.New(`(?i)((?:^|[\s'"])-{1,2}[a-z-]*(?:cookie|token|password|passwd|secret)s?=)[^\s"'@/.][^\s"']*`)
)

// Redactor masks registered secrets and secret-shaped text. It is safe for
// concurrent use; the zero value is ready, and a nil *Redactor masks shapes
// only.
type Redactor struct {
	mu sync.RWMutex
	// forms holds every form of every registered secret; sorted is the
	// same, longest first, rebuilt on the next String after an Add.
	forms  map[string]struct{}
	sorted []string
}

// Add registers exact secret values, each in every form it may come back in
// (see Forms). Empty and very short values are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forms == nil {
		r.forms = map[string]struct{}{}
	}
	for _, s := range secrets {
		for _, f := range Forms(s) {
			if _, ok := r.forms[f]; !ok {
				r.forms[f] = struct{}{}
				r.sorted = nil
			}
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

// AddFlagValues registers the values of secret flags in args, whatever their
// spelling (-cookies v, --cookies=v, -cookies=v), before a flag parser can
// echo them in an error. Flags whose value is a path (--token-file,
// --token-path) and @file values are not secrets.
func (r *Redactor) AddFlagValues(args []string) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !secretFlag(name) {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		if value != "" && !strings.HasPrefix(value, "@") {
			r.AddCookies(value) // a cookie string or a single value
		}
	}
}

func secretFlag(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "-file") || strings.HasSuffix(n, "-path") || strings.HasSuffix(n, "-stdin") {
		return false
	}
	for _, w := range []string{"cookie", "token", "password", "passwd", "secret"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	for _, k := range r.list() {
		s = strings.ReplaceAll(s, k, Mask)
	}
	return Shapes(s)
}

// list returns the registered forms, longest first, so a form that contains
// another is masked whole.
func (r *Redactor) list() []string {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	list, stale := r.sorted, r.sorted == nil && len(r.forms) > 0
	r.mu.RUnlock()
	if !stale {
		return list
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sorted == nil {
		sorted := make([]string, 0, len(r.forms))
		for k := range r.forms {
			sorted = append(sorted, k)
		}
		sort.Slice(sorted, func(i, j int) bool {
			if len(sorted[i]) != len(sorted[j]) {
				return len(sorted[i]) > len(sorted[j])
			}
			return sorted[i] < sorted[j]
		})
		r.sorted = sorted
	}
	return r.sorted
}

// window bounds how much of a long text is masked when only max runes of it
// will be shown: masking a 1 MiB body whole costs half a second, and what
// lies beyond the window can never reach a cut of max runes.
func window(max int) int { return 8<<10 + 4*max }

// Cut masks s and then keeps at most max runes of it, marking the cut.
// A long s is masked over a window of its start; the window's own edge is a
// cut too, handled as one (see maskEdge).
func (r *Redactor) Cut(s string, max int) string {
	if w := window(max); len(s) > w {
		head := s[:runeStart(s, w)]
		return Cut(r.maskEdge(r.String(head), true)+Ellipsis, max)
	}
	return Cut(r.String(s), max)
}

// CutTail masks s and then keeps at most its last max runes, marking the cut.
func (r *Redactor) CutTail(s string, max int) string {
	if w := window(max); len(s) > w {
		tail := s[runeStart(s, len(s)-w):]
		return CutTail(Ellipsis+r.maskEdge(r.String(tail), false), max)
	}
	return CutTail(r.String(s), max)
}

// maskEdge masks what a cut may have left of a secret at the cut end of
// masked text (its end, or with atEnd false its start): a piece of a
// registered form, which full masking could not recognise, and the last
// (first) run of token characters, which may be a piece of a secret-shaped
// value (a JWT, a Bearer value) that the shapes no longer match.
func (r *Redactor) maskEdge(m string, atEnd bool) string {
	for _, f := range r.list() {
		for l := min(len(f)-1, len(m)); l >= 1; l-- {
			if atEnd && strings.HasSuffix(m, f[:l]) {
				return m[:len(m)-l] + Mask
			}
			if !atEnd && strings.HasPrefix(m, f[len(f)-l:]) {
				return Mask + m[l:]
			}
		}
	}
	if atEnd {
		i := strings.LastIndexFunc(m, notTokenChar) + 1
		if i < len(m) {
			return m[:i] + Mask
		}
		return m
	}
	if i := strings.IndexFunc(m, notTokenChar); i != 0 {
		if i < 0 {
			return Mask
		}
		return Mask + m[i:]
	}
	return m
}

func notTokenChar(c rune) bool {
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._~+/=%-", c))
}

// runeStart moves i back to the start of the rune it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// Cut keeps at most max runes of s, marking the cut. It masks nothing: call
// it on text that is already masked (or use Redactor.Cut).
func Cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return Ellipsis
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// CutTail keeps at most the last max runes of s, marking the cut.
func CutTail(s string, max int) string {
	count := utf8.RuneCountInString(s)
	if count <= max {
		return s
	}
	skip := count - max
	n := 0
	for i := range s {
		if n == skip {
			return Ellipsis + s[i:]
		}
		n++
	}
	return Ellipsis // max is zero (or less): nothing is kept
}

// Shapes masks secret-shaped text only (no registered secrets). Each shape
// runs only when a literal it needs is present: the case-insensitive
// patterns have no literal prefix for the regexp engine to skip ahead with,
// and ran at half a second per MiB.
func Shapes(s string) string {
	lower := strings.ToLower(s)
	has := func(lit string) bool { return strings.Contains(lower, lit) }
	if has("eyj") {
		s = jwtShape().ReplaceAllString(s, Mask)
	}
	if has("bearer") {
		s = bearerShape().ReplaceAllString(s, "${1}"+Mask)
	}
	if has("cookie:") {
		s = cookieShape().ReplaceAllString(s, "${1}"+Mask)
	}
	if has("oauth2_proxy_kubeflow") || has("authservice_session") || has("dex_session") {
		s = sessionShape().ReplaceAllString(s, "${1}"+Mask)
	}
	if has("pass") {
		s = passwordShape().ReplaceAllString(s, "${1}"+Mask)
	}
	if has("://") && has("@") {
		s = userInfoShape().ReplaceAllString(s, "${1}"+Mask+"@")
	}
	if has("-") && has("=") && (has("cookie") || has("token") || has("pass") || has("secret")) {
		s = flagShape().ReplaceAllString(s, "${1}"+Mask)
	}
	return s
}
