// Package loginurl is the one rule for "this URL leads into a login": the
// KFP client stops following redirects there and names a login page
// (KFD013), and the login flow tells its sign-in steps from the protected
// path with it. Before, the two had their own rules and disagreed (one
// matched "/login" and OpenID Connect endpoints, the other did not).
package loginurl

import (
	"net/url"
	"strings"
)

// Segments are the path segments of the login paths in front of KFP:
// Dex (/dex/…), oauth2-proxy (/oauth2/…, also the OAuth2 endpoints of Google,
// Cognito and Azure AD), oidc-authservice (/authservice/…), a generic /login
// (Cognito's hosted UI, many gateways), and an OpenID Connect provider's
// endpoints (Keycloak's /realms/x/protocol/openid-connect/auth).
var Segments = []string{"dex", "oauth2", "authservice", "login", "openid-connect"}

// IsPath reports whether a URL path has a login segment, anywhere (a
// gateway served under a prefix still counts) and in any case.
func IsPath(p string) bool {
	p = strings.ToLower(p)
	for _, s := range Segments {
		if HasSegment(p, s) {
			return true
		}
	}
	return false
}

// Is reports whether u leads into a login.
func Is(u *url.URL) bool { return u != nil && IsPath(u.Path) }

// IsString is Is for a URL as a server sent it (a Location header): absolute
// or relative; what does not parse is judged as a path.
func IsString(raw string) bool {
	if u, err := url.Parse(raw); err == nil {
		return IsPath(u.Path)
	}
	return IsPath(raw)
}

// HasSegment reports whether path p has the segment seg: "/a/seg/b",
// "/seg", but not "/segment".
func HasSegment(p, seg string) bool {
	return strings.Contains(p+"/", "/"+seg+"/")
}
