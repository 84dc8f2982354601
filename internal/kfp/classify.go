package kfp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/lazyre"
	"github.com/kfp-connect/kfp-connect/internal/loginurl"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Diagnosis names what went wrong with one call: a catalogue id (empty when
// the cause is not one the catalogue knows) and a one-line summary that quotes
// what the server said.
type Diagnosis struct {
	KFD     kfd.ID
	Summary string
}

// Classify turns a transport error or an unwelcome reply into a diagnosis.
// Pass the reply and error exactly as Do returned them.
func Classify(reply *Reply, err error) Diagnosis {
	if err != nil {
		return classifyError(err)
	}
	if reply == nil {
		return Diagnosis{Summary: "no reply"}
	}
	return classifyReply(reply)
}

func classifyError(err error) Diagnosis {
	var (
		credErr   *CredentialError
		loopErr   *RedirectLoopError
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		authErr   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalErr  x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
		opErr     *net.OpError
	)
	msg := err.Error()
	switch {
	case errors.Is(err, credentials.ErrNotHeaderSafe) && errors.As(err, &credErr):
		return Diagnosis{kfd.HeaderUnsafeCredential, "nothing was sent: " + credErr.Err.Error()}
	case strings.Contains(msg, "invalid header field value"):
		// Go's transport refuses such a header before anything is sent.
		return Diagnosis{kfd.HeaderUnsafeCredential, "nothing was sent: " + innermost(err)}
	case errors.As(err, &credErr):
		return Diagnosis{kfd.NoTokenFile, credErr.Error()}
	case errors.As(err, &loopErr):
		return Diagnosis{kfd.RedirectLoop, loopErr.Error()}
	case strings.Contains(msg, "multiple Content-Length headers"):
		return Diagnosis{kfd.ConflictingLength, "the reply carries two different Content-Length headers: a client cannot tell where it ends"}
	case strings.Contains(msg, "server response headers exceeded"):
		return Diagnosis{kfd.HeadersTooLarge, fmt.Sprintf("the reply's headers exceed %d KiB: no KFP reply has headers that large", MaxHeaderBytes>>10)}
	case strings.Contains(msg, "failed to parse Location header"), strings.Contains(msg, "unsupported protocol scheme"),
		strings.Contains(msg, "no Host in request URL"):
		return Diagnosis{kfd.BadRedirect, "a redirect that cannot be followed: " + badRedirect(msg)}
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "malformed chunked encoding"),
		strings.Contains(msg, "invalid byte in chunk length"), strings.Contains(msg, "chunk length"),
		strings.Contains(msg, "bad Content-Length"), strings.Contains(msg, "unexpected EOF") && strings.Contains(msg, "reading the reply"):
		return Diagnosis{kfd.MalformedHTTP, "the reply is not well-formed HTTP: " + innermost(err)}
	case errors.As(err, &dnsErr):
		return Diagnosis{kfd.DNS, fmt.Sprintf("cannot resolve %q: %s", dnsErr.Name, dnsErr.Err)}
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invalErr):
		return Diagnosis{kfd.TLSVerify, SayTLSFailed + ": " + innermost(err)}
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return Diagnosis{kfd.NotKFP, "the server does not speak TLS here: use http:// for this host and port"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Diagnosis{kfd.NothingListening, SayRefused + " " + hostOf(err)}
	case errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout():
		return Diagnosis{kfd.NothingListening, "connect timed out: no route to " + hostOf(err)}
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return Diagnosis{kfd.NoAnswer, SayNoAnswer}
	case errors.Is(err, context.Canceled):
		return Diagnosis{Summary: "interrupted"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), strings.Contains(err.Error(), "EOF"):
		return Diagnosis{kfd.BackendNotReady, "the connection was closed without an answer (a port-forward or proxy with no ready backend?)"}
	}
	return Diagnosis{Summary: innermost(err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hostOf(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Addr != nil {
		return opErr.Addr.String()
	}
	return "the host"
}

func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func classifyReply(r *Reply) Diagnosis {
	status := fmt.Sprintf("HTTP %d", r.StatusCode)
	red := r.red
	if r.Truncated {
		return Diagnosis{kfd.NotKFP, fmt.Sprintf("%s with a body over %d bytes: not a KFP API answer", status, MaxBody)}
	}
	if loc := r.Header.Get("Location"); r.StatusCode >= 300 && r.StatusCode < 400 && loc != "" {
		if u, err := url.Parse(loc); err == nil {
			if d, ok := distro.SignIn(u); ok {
				return Diagnosis{d.KFD, fmt.Sprintf("%s redirect to %s%s (%s): no Dex login or KFP answer behind it", status, d.Name, SaySignIn, u.Hostname())}
			}
		}
		if loginurl.IsString(loc) {
			return Diagnosis{kfd.LoginPage, fmt.Sprintf("%s %s (%s)", status, SayLoginRedirect, red.Cut(trimURL(loc), maxQuote))}
		}
		return Diagnosis{kfd.NotKFP, fmt.Sprintf("%s redirect to %s instead of an answer", status, red.Cut(trimURL(loc), maxQuote))}
	}
	if r.StatusCode >= 300 && r.StatusCode < 400 && r.StatusCode != http.StatusNotModified && r.Header.Get("Location") == "" {
		// A client cannot follow it: Go's stops here and hands the 3xx
		// back, Python's urllib3 raises on it.
		return Diagnosis{kfd.BadRedirect, fmt.Sprintf("%s %s: a client has nowhere to go", status, SayNoLocation)}
	}
	body := bytes.TrimSpace(r.Body)
	if env, err := ParseEnvelope(body); err == nil {
		return classifyEnvelope(r, env)
	}
	// The raw text is only matched against; whatever is shown of it goes
	// through the redactor's cut, which masks before it shortens.
	text := string(body)
	lower := strings.ToLower(text)
	quote := quoteShort(red, text)
	switch {
	case strings.Contains(text, "RBAC: access denied"):
		if r.SentUserIDHeader {
			return Diagnosis{kfd.SelfSetUserID, fmt.Sprintf("%s %s: %s", status, quote, SaySelfSetUserID)}
		}
		return Diagnosis{kfd.IstioDenied, fmt.Sprintf("%s %s from Istio (server: %s)", status, quote, r.Header.Get("Server"))}
	case strings.Contains(text, "Jwt issuer is not configured"):
		return Diagnosis{kfd.JWTIssuer, status + " " + quote}
	case strings.Contains(text, "Jwt is expired"):
		return Diagnosis{kfd.Expired, status + " " + quote}
	case strings.Contains(text, "Jwks remote fetch is failed"):
		return Diagnosis{kfd.JWKSUnreachable, status + " " + quote}
	case strings.Contains(text, "Jwt verification fails"):
		return Diagnosis{kfd.TokenInvalid, status + " " + quote}
	case strings.Contains(lower, "upstream connect error"), strings.Contains(lower, "no healthy upstream"):
		return Diagnosis{kfd.BackendNotReady, status + " " + quote}
	case isHTML(lower):
		return classifyHTML(r, text, lower)
	case strings.Contains(lower, "client sent an http request to an https server"):
		return Diagnosis{kfd.NotKFP, "the server speaks TLS here: use https://"}
	}
	switch {
	case r.StatusCode == http.StatusUnauthorized:
		return Diagnosis{kfd.LoginPage, fmt.Sprintf("%s %s from a proxy in front of KFP (not KFP's JSON): it wants a session", status, quote)}
	case r.StatusCode == http.StatusForbidden:
		return Diagnosis{kfd.IstioDenied, fmt.Sprintf("%s %s from a proxy in front of KFP", status, quote)}
	case ServerStatus(r.StatusCode) != "":
		return Diagnosis{ServerStatus(r.StatusCode), status + " " + quote}
	case r.StatusCode == http.StatusNotFound:
		return Diagnosis{kfd.NotKFP, fmt.Sprintf("%s %s: %s", status, quote, SayNothingAtPath)}
	case r.StatusCode < 300:
		return Diagnosis{kfd.NotKFP, fmt.Sprintf("%s, %s: %s", status, SayNotKFPAnswer, quote)}
	}
	return Diagnosis{Summary: status + " " + quote}
}

func classifyEnvelope(r *Reply, env *Envelope) Diagnosis {
	// Masked before anything quotes or shortens it; KFP's messages are
	// short, a hostile envelope is masked over its first 16 KiB.
	msg := r.red.Cut(env.Text(), 2<<10)
	// say quotes the part of KFP's long "A: B: C" chain that names the cause.
	say := func(id kfd.ID, cause string) Diagnosis {
		if cause == "" {
			cause = env.Short()
		}
		return Diagnosis{id, fmt.Sprintf("HTTP %d, code %d: %s", r.StatusCode, env.Code, quoteShort(r.red, cause))}
	}
	has := func(s string) bool { return strings.Contains(msg, s) }
	switch {
	case has("Failed to find all of") && has("audience"):
		return say(kfd.TokenAudience, find(r.red, msg, reAudienceMissing()))
	case has("token audiences") && has("is invalid for the target audiences"):
		return say(kfd.TokenAudience, find(r.red, msg, reAudienceInvalid()))
	case has("Failed to review the token provided"):
		return say(kfd.ReviewUnavailable, find(r.red, msg, reReviewFailed()))
	case has("Failed to create SubjectAccessReview"):
		return say(kfd.ReviewUnavailable, find(r.red, msg, reSARFailed()))
	case has("Review.Status.Authenticated is false") && has("expired"):
		return say(kfd.Expired, SayTokenExpired+" (TokenReview: not authenticated)")
	case has("Header 'Authorization' is incorrectly formatted"), has("Header 'authorization' is incorrectly formatted"):
		return say(kfd.TokenInvalid, find(r.red, msg, reHeaderFormat()))
	case has("Review.Status.Authenticated is false"), has("Failed to authenticate token review"), has("invalid bearer token"):
		return say(kfd.TokenInvalid, SayTokenNotAuthenticated+" ("+find(r.red, msg, reTokenReviewError())+")")
	case has("there is no user identity header"), has("User identity is empty"):
		return say(kfd.NoIdentity, "there is no user identity header (no token, no session)")
	case has("is not authorized"), env.Code == 7:
		return say(kfd.RBACDenied, find(r.red, msg, reNotAuthorized()))
	case has("cannot have an empty namespace"), has("Namespace required"), has("namespace is empty"):
		return say(kfd.EmptyNamespace, find(r.red, msg, reEmptyNamespace()))
	case has("single-user mode") || has("single user mode"):
		return say(kfd.NamespaceSingleUser, find(r.red, msg, reSingleUser()))
	case env.Code == 16:
		return say(kfd.NoIdentity, "")
	case env.Code == 5 && r.StatusCode == http.StatusNotFound:
		return say(kfd.NotKFP, "")
	case env.Code == 14:
		return say(kfd.BackendNotReady, "")
	case ServerStatus(r.StatusCode) != "":
		return say(ServerStatus(r.StatusCode), "")
	}
	return say("", "")
}

// ServerStatus names a server-side HTTP status: 502, 503 and 504 are a proxy
// with no ready backend (KFD019), any other 5xx the server failing the
// request (KFD046); "" for the rest.
func ServerStatus(code int) kfd.ID {
	switch {
	case code == http.StatusBadGateway, code == http.StatusServiceUnavailable, code == http.StatusGatewayTimeout:
		return kfd.BackendNotReady
	case code >= 500 && code <= 599:
		return kfd.ServerError
	}
	return ""
}

// badRedirect keeps the cause of a refused redirect and the target's scheme
// or parse error, never the target itself (it may carry a token).
func badRedirect(msg string) string {
	switch {
	case strings.Contains(msg, "unsupported protocol scheme"):
		if i := strings.Index(msg, "unsupported protocol scheme"); i >= 0 {
			return "it leads to a non-HTTP URL (" + msg[i:] + ")"
		}
	case strings.Contains(msg, "no Host in request URL"):
		return "it leads to a URL with no host"
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return "its Location is not a URL (" + msg[i+2:] + ")"
	}
	return "its Location is not a URL"
}

// The phrases of KFP's messages worth quoting; each regexp keeps one clause.
var (
	reAudienceMissing  = lazyre.New(`Failed to find all of '[^']*' in audience[^:]*`)
	reAudienceInvalid  = lazyre.New(`token audiences \[[^\]]*\] is invalid for the target audiences \[[^\]]*\]`)
	reReviewFailed     = lazyre.New(`Failed to review the token provided[^\]]*`)
	reSARFailed        = lazyre.New(`Failed to create SubjectAccessReview for user '[^']*'`)
	reHeaderFormat     = lazyre.New(`Header '[^']*' is incorrectly formatted[^:]*`)
	reTokenReviewError = lazyre.New(`Error \[[^\]]*\]`)
	reNotAuthorized    = lazyre.New(`User '[^']*' is not authorized`)
	reEmptyNamespace   = lazyre.New(`[A-Za-z ]*(cannot have an empty namespace|Namespace required)[^:]*`)
	reSingleUser       = lazyre.New(`In single-user mode[^:]*`)
)

// find returns the first match of re in msg, or msg's last clause. msg is
// masked already; both go through the redactor's cut once more, so a match
// boundary inside a secret cannot expose a piece of it either.
func find(red *redact.Redactor, msg string, re *regexp.Regexp) string {
	if m := re.FindString(msg); m != "" {
		return red.Cut(strings.TrimSpace(m), 4*maxQuote)
	}
	return lastClause(red, msg)
}

func classifyHTML(r *Reply, text, lower string) Diagnosis {
	status := fmt.Sprintf("HTTP %d", r.StatusCode)
	// The title is a piece of the page: mask the page before taking it.
	title := func() string { return quoteShort(r.red, htmlText(r.red.Cut(text, 4<<10))) }
	switch {
	case apiPathRefused(text):
		return Diagnosis{kfd.VersionMismatch, fmt.Sprintf("%s HTML %s: this backend does not serve that API version", status, title())}
	case strings.Contains(lower, `name="password"`), strings.Contains(lower, "/dex/"), strings.Contains(lower, "oauth2"),
		strings.Contains(lower, "log in to"), strings.Contains(lower, "sign in"), strings.Contains(lower, "login"):
		return Diagnosis{kfd.LoginPage, status + " " + SayLoginPage}
	}
	return Diagnosis{kfd.NotKFP, fmt.Sprintf("%s with an HTML page (%s) instead of KFP's JSON", status, title())}
}

// apiPathRefused tells Express's "Cannot GET /apis/v2beta1/…" (a UI that
// does not know this API version) from "Cannot GET /pipelines/apis/…" (a
// wrong prefix in the host).
func apiPathRefused(page string) bool {
	m := reCannotGet().FindStringSubmatch(page)
	return m != nil && reAPIPath().MatchString(m[1])
}

var (
	reCannotGet = lazyre.New(`Cannot GET (\S+)`)
	reAPIPath   = lazyre.New(`^(/pipeline)?/apis/v[12]beta1/`)
)

func isHTML(lower string) bool {
	return strings.HasPrefix(lower, "<!doctype html") || strings.HasPrefix(lower, "<html") ||
		strings.Contains(lower, "<body") || strings.Contains(lower, "<head")
}

// isCloudSignIn is a redirect into a cloud's own sign-in (internal/distro):
// an answer in itself, and a host the doctor has no business calling.
func isCloudSignIn(u *url.URL) bool {
	_, ok := distro.SignIn(u)
	return ok
}

// htmlText is the title or first heading of a page, or its start.
func htmlText(page string) string {
	for _, tag := range []string{"pre", "title", "h1"} {
		lower := strings.ToLower(page)
		if i := strings.Index(lower, "<"+tag+">"); i >= 0 {
			rest := page[i+len(tag)+2:]
			if j := strings.Index(strings.ToLower(rest), "</"+tag+">"); j >= 0 {
				return strings.TrimSpace(rest[:j])
			}
		}
	}
	return page
}

// maxQuote is how much of what a server said a message quotes.
const maxQuote = 200

// lastClause keeps the end of KFP's long "A: B: C" message chains, where the
// cause is; masked before it is shortened.
func lastClause(red *redact.Redactor, msg string) string { return red.CutTail(msg, maxQuote) }

// quoteShort quotes the start of s on one line, masked before it is
// shortened.
func quoteShort(red *redact.Redactor, s string) string {
	return fmt.Sprintf("%q", strings.Join(strings.Fields(red.Cut(s, maxQuote)), " "))
}

func trimURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
