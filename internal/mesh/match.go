package mesh

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The matchers below are the Envoy matchers istio/istio generates for each
// field (pilot/pkg/security/authz/model/matcher and generator.go), written as
// Go over the request instead of as Envoy config.

// stringMatch is StringMatcherWithPrefix (matcher/string.go): "*" matches a
// non-empty value (regex ".+"), "*x" a suffix, "x*" a prefix, anything else
// exactly. fold makes it case-insensitive (the host matcher).
func stringMatch(pattern, value string, fold bool) bool {
	if fold {
		pattern, value = strings.ToLower(pattern), strings.ToLower(value)
	}
	switch {
	case pattern == "*":
		return value != ""
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(value, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(value, pattern[:len(pattern)-1])
	}
	return value == pattern
}

// headerMatch is HeaderMatcherWithRegex (matcher/header.go): "*" is a
// presence match (an empty value counts); otherwise the pattern must match
// the whole value or one of its comma-separated elements, Envoy having
// joined repeated headers with ",". An absent header matches nothing.
func headerMatch(pattern string, values []string, present bool) bool {
	if !present {
		return false
	}
	if pattern == "*" {
		return true
	}
	joined := strings.Join(values, ",")
	if stringMatchNonEmpty(pattern, joined) {
		return true
	}
	for _, v := range strings.Split(joined, ",") {
		if stringMatchNonEmpty(pattern, v) {
			return true
		}
	}
	return false
}

// stringMatchNonEmpty is the regex form of prefix, suffix and exact
// patterns, where an empty prefix or suffix matches anything.
func stringMatchNonEmpty(pattern, value string) bool {
	switch {
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(value, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(value, pattern[:len(pattern)-1])
	}
	return value == pattern
}

// spiffePrefix is what Envoy sees of a peer's identity: its certificate's
// URI SAN (pkg/spiffe URIPrefix). Principals are matched with it prepended
// (srcPrincipalGenerator: StringMatcherWithPrefix(value, "spiffe://")).
const spiffePrefix = "spiffe://"

// principalMatch matches source.principal / principals. Without mTLS there
// is no peer identity and nothing matches, not even "*".
func principalMatch(pattern, peer string) bool {
	if peer == "" {
		return false
	}
	if pattern == "*" {
		return true
	}
	return stringMatch(withPrefix(pattern), spiffePrefix+peer, false)
}

// withPrefix inserts spiffe:// as StringMatcherWithPrefix does: before the
// rest of an exact or prefix pattern, and not at all for a suffix.
func withPrefix(pattern string) string {
	if strings.HasPrefix(pattern, "*") {
		return pattern
	}
	return spiffePrefix + pattern
}

var regexCache sync.Map // string → *regexp.Regexp

func fullRegex(expr string) *regexp.Regexp {
	if re, ok := regexCache.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile("^(?:" + expr + ")$")
	regexCache.Store(expr, re)
	return re
}

// namespaceMatch is srcNamespaceGenerator: the regex `.*/ns/<v>/.*` over
// the peer's URI, each "*" of v becoming ".*". No peer, no match.
func namespaceMatch(pattern, peer string) bool {
	if peer == "" {
		return false
	}
	parts := strings.Split(pattern, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return fullRegex(`.*/ns/` + strings.Join(parts, ".*") + `/.*`).MatchString(spiffePrefix + peer)
}

// serviceAccountMatch is serviceAccountRegex: `<ns>/<sa>` or `<sa>` in the
// policy's namespace, with no wildcards, against the peer's URI.
func serviceAccountMatch(value, policyNamespace, peer string) bool {
	if peer == "" {
		return false
	}
	ns, sa, ok := strings.Cut(value, "/")
	if !ok {
		ns, sa = policyNamespace, value
	}
	expr := fmt.Sprintf(`spiffe://.+/ns/%s/(.+/|)sa/%s(/.+)?`, regexp.QuoteMeta(ns), regexp.QuoteMeta(sa))
	return fullRegex(expr).MatchString(spiffePrefix + peer)
}

// trustDomainMatch matches a peer's trust domain (what comes before /ns/).
func trustDomainMatch(pattern, peer string) bool {
	if peer == "" {
		return false
	}
	td, _, _ := strings.Cut(peer, "/")
	return stringMatch(pattern, td, false)
}

// requestPrincipalMatch is requestPrincipalGenerator: the value is split at
// its last "/" into issuer and subject (an issuer is often a URL), each
// matched against the verified JWT's iss and sub claims. Without a verified
// JWT nothing matches.
func requestPrincipalMatch(value string, id *Identity) bool {
	if id == nil {
		return false
	}
	iss, sub := id.Issuer, id.Subject
	any := func(s string) bool { return s != "" } // regex ".+"
	idx := strings.LastIndex(value, "/")
	found := idx >= 0
	vIss, vSub := value, ""
	if found {
		vIss, vSub = value[:idx], value[idx+1:]
	}
	switch {
	case value == "*":
		return any(iss) && any(sub)
	case strings.HasPrefix(value, "*"):
		if found {
			issOK := any(iss)
			if vIss != "*" {
				issOK = strings.HasSuffix(iss, strings.TrimPrefix(vIss, "*"))
			}
			return issOK && sub == vSub
		}
		return any(iss) && strings.HasSuffix(sub, strings.TrimPrefix(value, "*"))
	case strings.HasSuffix(value, "*"):
		if found {
			subOK := any(sub)
			if vSub != "*" {
				subOK = strings.HasPrefix(sub, strings.TrimSuffix(vSub, "*"))
			}
			return iss == vIss && subOK
		}
		return strings.HasPrefix(iss, strings.TrimSuffix(value, "*")) && any(sub)
	}
	return iss == vIss && sub == vSub
}

// claimMatch is MetadataListValueMatcherForJWTClaims with a string
// matcher: a string claim, or any string element of a list claim, at the
// nested path. No verified JWT, or no such claim, matches nothing.
func claimMatch(pattern string, id *Identity, path []string) bool {
	if id == nil {
		return false
	}
	v := id.claim(path)
	switch v := v.(type) {
	case string:
		return stringMatch(pattern, v, false)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && stringMatch(pattern, s, false) {
				return true
			}
		}
	}
	return false
}

// parseCIDR is AddrStrToCidrRange: a single address or a CIDR.
func parseCIDR(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", v)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP %q", v)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePort is convertToPort: an integer in [0, 65535].
func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q", v)
	}
	return p, nil
}

// pathMatch is the path matcher: Envoy's path without its query, matched
// by StringMatcher, or, when the value holds {*} or {**}, as an Envoy URI
// template ({*} one path segment, {**} the rest of the path).
func pathMatch(pattern, path string) bool {
	if strings.Contains(pattern, "{*}") || strings.Contains(pattern, "{**}") {
		var b strings.Builder
		for rest := pattern; rest != ""; {
			switch {
			case strings.HasPrefix(rest, "{**}"):
				b.WriteString(`.*`)
				rest = rest[4:]
			case strings.HasPrefix(rest, "{*}"):
				b.WriteString(`[^/]+`)
				rest = rest[3:]
			default:
				n := strings.IndexByte(rest[1:], '{') + 1
				if n == 0 {
					n = len(rest)
				}
				b.WriteString(regexp.QuoteMeta(rest[:n]))
				rest = rest[n:]
			}
		}
		return fullRegex(b.String()).MatchString(path)
	}
	return stringMatch(pattern, path, false)
}

// NormalizePath is the path an Istio sidecar matches: without query or
// fragment, with "." and ".." segments resolved (RFC 3986 5.2.4), Istio's
// default BASE normalization (istio.io: Authorization Policy Normalization).
func NormalizePath(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" {
		return "/"
	}
	var out []string
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	p := strings.Join(out, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
