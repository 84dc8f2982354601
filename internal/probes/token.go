package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// nearExpiry is when a token close to its end gets a warning: a long pipeline
// submission could outlive it.
const nearExpiry = 10 * time.Minute

const predicted = "predicted from the token's claims, not verified"

// clockLeeway is the skew the kube-apiserver allows on nbf and iat.
const clockLeeway = time.Minute

// rawToken is the token the client sends now (the file is read again, as the
// SDK does per request) and where it comes from; ok is false when the client
// is configured with no token at all.
func (t *Target) rawToken(ctx context.Context) (raw, source string, ok bool, err error) {
	switch {
	case t.TokenFile != nil:
		raw, err = t.TokenFile.Read(ctx)
		return raw, t.TokenFile.Path, true, err
	case t.Bearer != nil:
		return t.Bearer.Token(), t.Bearer.String(), true, nil
	}
	return "", "", false, nil
}

func tokenProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    "token",
		Title: "credentials: the token the client sends",
		// It reads the file and its claims: a pass here checks nothing of
		// the connection.
		Local: true,
		Run: func(ctx context.Context, t *Target) probe.Result {
			raw, source, ok, err := t.rawToken(ctx)
			switch {
			case !ok:
				return probe.Skipped("no token configured: the client sends none (right for standalone KFP and for gateway sessions)")
			case errors.Is(err, credentials.ErrNotHeaderSafe):
				return probe.Failed(kfd.HeaderUnsafeCredential, err.Error()+": no request can carry it")
			case err == nil && credentials.HeaderSafe(raw) != nil:
				return probe.Failed(kfd.HeaderUnsafeCredential, fmt.Sprintf("the token from %s %v: no request can carry it", source, credentials.HeaderSafe(raw)))
			case err != nil:
				return probe.Failed(kfd.NoTokenFile, err.Error()+" (path from --token-path, $"+credentials.TokenPathEnv+", or the default "+credentials.DefaultTokenPath+")")
			}
			info, err := credentials.InspectToken(raw)
			if errors.Is(err, credentials.ErrNotJWT) {
				// Kubernetes ServiceAccount tokens are JWTs, but a webhook
				// authenticator could take another kind: let the server decide.
				return probe.Warned(kfd.TokenInvalid, fmt.Sprintf("the token from %s is not a JWT, so it is no ServiceAccount token and KFP's TokenReview will most likely reject it (%s)", source, predicted))
			}
			if err != nil {
				return probe.Failed(kfd.TokenInvalid, fmt.Sprintf("%v: KFP's TokenReview will reject it (%s)", err, predicted))
			}
			return judgeToken(info, t)
		},
	}
}

func judgeToken(info *credentials.TokenInfo, t *Target) probe.Result {
	now := t.now()
	who := info.Who()
	if info.Pod != "" {
		who += " (bound to pod " + info.Pod + ")"
	}
	if !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt) {
		return probe.Failed(kfd.Expired, fmt.Sprintf("token for %s %s %s ago, at %s: KFP will reject it (%s)",
			who, SayTokenExpiredAgo, now.Sub(info.ExpiresAt).Round(time.Second), info.ExpiresAt.UTC().Format(time.RFC3339), predicted))
	}
	// The kube-apiserver validates with a minute's leeway for clock skew
	// (go-jose's ValidateWithLeeway): a token not valid yet, or issued in
	// the future, is refused.
	for _, d := range []struct {
		claim string
		at    time.Time
		what  string
	}{{"nbf", info.NotBefore, "is not valid before"}, {"iat", info.IssuedAt, "claims to be issued at"}} {
		if !d.at.IsZero() && d.at.After(now.Add(clockLeeway)) {
			return probe.Failed(kfd.TokenInvalid, fmt.Sprintf("token for %s %s %s (%s claim), %s from now: KFP will reject it; is this machine's clock right? (%s)",
				who, d.what, d.at.UTC().Format(time.RFC3339), d.claim, d.at.Sub(now).Round(time.Second), predicted))
		}
	}
	aud := "[" + strings.Join(info.Audience, ", ") + "]"
	if !info.HasAudience(t.audience()) {
		return probe.Warned(kfd.TokenAudience, fmt.Sprintf("token for %s has audience %s without %s: KFP's TokenReview rejects it unless TOKEN_REVIEW_AUDIENCE is one of them; a gateway may still accept it (%s)",
			who, aud, t.audience(), predicted))
	}
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.Sub(now) < nearExpiry {
		return probe.Warned(kfd.Expired, fmt.Sprintf("token for %s expires in %s: re-read it before each request (%s)",
			who, info.ExpiresAt.Sub(now).Round(time.Second), predicted))
	}
	expiry := "never expires"
	if !info.ExpiresAt.IsZero() {
		expiry = "expires in " + info.ExpiresAt.Sub(now).Round(time.Second).String()
	}
	return probe.Passf(fmt.Sprintf("token for %s, audience %s, %s (claims read, not verified)", who, aud, expiry))
}
