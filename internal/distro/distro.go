// Package distro recognises which login stack stands in front of Kubeflow
// Pipelines — Dex behind oauth2-proxy (Kubeflow ≥ 1.9) or behind
// oidc-authservice (≤ 1.8), Google Cloud IAP, AWS (ALB with Cognito), Azure
// (Entra ID / AAD) or IBM Cloud App ID — from what the gateway answers an
// anonymous browser request and, when the doctor can see the cluster, from
// the objects it may list. It only recognises: it sends nothing itself, and
// the table below is the whole of its knowledge, one row per signal.
package distro

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// ID names a login stack.
type ID string

const (
	DexOAuth2Proxy ID = "dex-oauth2-proxy"     // Kubeflow ≥ 1.9
	DexAuthService ID = "dex-oidc-authservice" // Kubeflow ≤ 1.8
	GCPIAP         ID = "gcp-iap"              // Kubeflow on Google Cloud
	AWSCognito     ID = "aws-alb-cognito"      // Kubeflow on AWS, the Cognito variant
	AzureAD        ID = "azure-entra-id"       // Kubeflow on Azure with Entra ID (AAD)
	IBMAppID       ID = "ibm-appid"            // Kubeflow on IBM Cloud with App ID
	GCPInverse     ID = "gcp-inverse-proxy"    // Google's hosted KFP (AI Platform Pipelines) behind its inverse proxy
	OtherOIDC      ID = "oidc-provider"        // an OIDC provider other than Dex: Keycloak, Okta, Auth0
)

// Distribution is one login stack and where its users are told how to
// connect the SDK from outside the cluster.
type Distribution struct {
	ID   ID
	Name string
	// Doc is the link the seed page (kubeflow.org, "Connect the Pipelines
	// SDK to Kubeflow Pipelines", Full Kubeflow from outside the cluster)
	// gives for this stack.
	Doc string
	// DocNote corrects the seed where its link misleads.
	DocNote string
	// Login is true where the doctor's --username login (Dex's forms) can
	// get a session; elsewhere the login is the cloud's own.
	Login bool
	// KFD is the catalogue id of "this stack is in front and the doctor
	// cannot log in through it"; "" where it can.
	KFD kfd.ID
	// rank orders stacks that match together: a cloud identity provider
	// seen anywhere in the chain decides, even when oauth2-proxy or Dex
	// relays to it, because the password form is then the cloud's.
	rank int
}

// The seed's links (kubeflow/website, content/en/docs/components/pipelines/
// legacy-v1/sdk/connect-api.md), made absolute.
const (
	seedDex   = "https://www.kubeflow.org/docs/components/pipelines/legacy-v1/sdk/connect-api/#full-kubeflow-subfrom-outside-clustersub"
	seedGCP   = "https://www.kubeflow.org/docs/distributions/gke/pipelines/authentication-sdk/#connecting-to-kubeflow-pipelines-in-a-full-kubeflow-deployment"
	seedAWS   = "https://www.kubeflow.org/docs/distributions/aws/pipeline/#authenticate-kubeflow-pipeline-using-sdk-outside-cluster"
	seedAzure = "https://awslabs.github.io/kubeflow-manifests/docs/component-guides/pipelines/"
	seedIBM   = "https://www.kubeflow.org/docs/distributions/ibm/pipelines/#2-authenticating-multi-user-kubeflow-pipelines-with-the-sdk"
)

var distributions = map[ID]Distribution{
	DexOAuth2Proxy: {Name: "Dex behind oauth2-proxy (Kubeflow ≥ 1.9)", Doc: seedDex, Login: true, rank: 1},
	DexAuthService: {Name: "Dex behind oidc-authservice (Kubeflow ≤ 1.8)", Doc: seedDex, Login: true, rank: 1},
	GCPIAP:         {Name: "Google Cloud IAP (Kubeflow on Google Cloud)", Doc: seedGCP, KFD: kfd.DistroIAP, rank: 2},
	AWSCognito:     {Name: "AWS ALB with Cognito (Kubeflow on AWS)", Doc: seedAWS, KFD: kfd.DistroAWS, rank: 2},
	AzureAD: {Name: "Microsoft Entra ID / Azure AD (Kubeflow on Azure)", Doc: seedAzure, KFD: kfd.DistroAzure, rank: 2,
		DocNote: "the seed's \"Kubeflow on Azure\" link leads to AWS's guide; Azure's own is https://azure.github.io/kubeflow-aks/main/docs/deployment-options"},
	IBMAppID: {Name: "IBM Cloud App ID (Kubeflow on IBM Cloud)", Doc: seedIBM, KFD: kfd.DistroIBM, rank: 2},
	GCPInverse: {Name: "Google's inverse proxy (hosted Kubeflow Pipelines)", Doc: "https://cloud.google.com/ai-platform/pipelines/docs/connecting-with-sdk",
		KFD: kfd.InverseProxy, rank: 2},
	OtherOIDC: {Name: "an OIDC provider other than Dex (Keycloak, Okta, Auth0)", Doc: "https://www.deploykf.org/user-guides/access-kubeflow-pipelines-api/",
		KFD: kfd.OutsideIdP, rank: 2},
}

func init() {
	for id, d := range distributions {
		d.ID = id
		distributions[id] = d
	}
}

// Lookup returns a stack by id.
func Lookup(id ID) (Distribution, bool) {
	d, ok := distributions[id]
	return d, ok
}

// All returns every stack, ordered by id.
func All() []Distribution {
	out := make([]Distribution, 0, len(distributions))
	for _, d := range distributions {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Where a signal is looked for.
type Where string

const (
	// Of the gateway's answer to an anonymous GET of the protected path.
	LocationHost  Where = "Location host"                // a redirect's host ends with Value
	LocationPath  Where = "Location path"                // a redirect's path holds Value as a segment run
	RedirectURI   Where = "Location redirect_uri"        // the redirect_uri query of a redirect holds Value
	CookieName    Where = "cookie"                       // a Set-Cookie name starts with Value
	HeaderName    Where = "header"                       // a response header is present
	HeaderValue   Where = "header value"                 // Value is "Name: substring"
	BodyText      Where = "body"                         // the body holds Value (case-insensitive)
	TargetHost    Where = "host"                         // the endpoint's own host ends with Value
	ClusterObject Where = "cluster object"               // Value is "Kind namespace/name"; namespace "*" is any
	ClusterPrefix Where = "cluster object (name prefix)" // as ClusterObject, the name a prefix
)

// Strength of a signal: a strong one decides alone, weak ones only together
// (or with a strong one of the same stack).
const (
	Weak   = 1
	Strong = 2
)

// Signature is one row of the table: where a signal is, what it is, and
// which stack it points to.
type Signature struct {
	Distro   ID
	Where    Where
	Value    string
	Strength int
	// Source says where the signal was learnt (the catalogue of facts, a
	// manifest, a vendor's documentation).
	Source string
}

// table is the recognition as data. Facts: shared/design/kfp-facts.md
// ("Kubeflow login stack", the measured login chains) and the upstream
// manifests for Dex and oauth2-proxy; the cloud rows from the vendors'
// documentation as found with search (IAP's X-Goog-IAP-Generated-Response
// on the 302/401/403 it generates and its "Invalid IAP credentials" bodies;
// the ALB's AWSELBAuthSessionCookie-N cookies and /oauth2/idpresponse
// callback; Entra ID's login.microsoftonline.com; App ID's
// <region>.appid.cloud.ibm.com). x-goog-iap-jwt-assertion is a header IAP
// adds to the request it forwards to the backend: a client never sees it, so
// it is no signal here.
var table = []Signature{
	// Kubeflow ≥ 1.9: oauth2-proxy.
	{DexOAuth2Proxy, CookieName, "oauth2_proxy_kubeflow", Strong, "kfp-facts.md: oauth2-proxy's cookie in Kubeflow ≥ 1.9 (and its _csrf cookie on the redirect)"},
	{DexOAuth2Proxy, CookieName, "_oauth2_proxy", Strong, "oauth2-proxy's default cookie name"},
	{DexOAuth2Proxy, LocationPath, "/oauth2/start", Strong, "kfp-facts.md: sign-in at /oauth2/start?rd=…"},
	{DexOAuth2Proxy, LocationPath, "/oauth2/sign_in", Strong, "oauth2-proxy's sign-in page"},
	{DexOAuth2Proxy, RedirectURI, "/oauth2/callback", Strong, "kfp-facts.md: oauth2-proxy's callback /oauth2/callback"},
	{DexOAuth2Proxy, BodyText, `action="/oauth2/start`, Strong, "oauth2-proxy's sign-in page (401/403 behind Istio's ext_authz) posts to /oauth2/start"},
	{DexOAuth2Proxy, ClusterObject, "Deployment oauth2-proxy/oauth2-proxy", Strong, "kubeflow/manifests common/oauth2-proxy/base"},
	// Kubeflow ≤ 1.8: oidc-authservice.
	{DexAuthService, CookieName, "authservice_session", Strong, "kfp-facts.md: oidc-authservice's session cookie"},
	{DexAuthService, LocationPath, "/authservice", Strong, "kfp-facts.md: oidc-authservice's paths /authservice/…"},
	{DexAuthService, RedirectURI, "/authservice/oidc/callback", Strong, "kfp-facts.md: callback /authservice/oidc/callback"},
	{DexAuthService, ClusterPrefix, "Service istio-system/authservice", Strong, "Kubeflow ≤ 1.8 runs oidc-authservice in istio-system"},
	{DexAuthService, ClusterObject, "ConfigMap istio-system/oidc-authservice-parameters", Strong, "Kubeflow ≤ 1.8 oidc-authservice's parameters"},
	// Dex itself: which proxy is in front decides the generation, so Dex
	// alone only supports either.
	{DexOAuth2Proxy, LocationPath, "/dex/auth", Weak, "kfp-facts.md: the login chain enters Dex at /dex/auth"},
	{DexAuthService, LocationPath, "/dex/auth", Weak, "kfp-facts.md: the login chain enters Dex at /dex/auth"},
	{DexOAuth2Proxy, ClusterObject, "Deployment auth/dex", Weak, "kubeflow/manifests common/dex/base"},
	{DexAuthService, ClusterObject, "Deployment auth/dex", Weak, "kubeflow/manifests common/dex/base"},

	// Google Cloud IAP.
	{GCPIAP, LocationHost, "accounts.google.com", Strong, "IAP redirects an anonymous browser to accounts.google.com/o/oauth2/v2/auth?client_id=…"},
	{GCPIAP, HeaderName, "X-Goog-IAP-Generated-Response", Strong, "cloud.google.com/iap/docs/query-parameters-and-headers-howto: set on the 302/401/403 IAP generates"},
	{GCPIAP, BodyText, "Invalid IAP credentials", Strong, "IAP's answer without (or with a wrong) token: \"Invalid IAP credentials: empty token\""},
	{GCPIAP, CookieName, "GCP_IAP_", Strong, "IAP's cookies (GCP_IAP_UID, GCP_IAP_XSRF_NONCE_…)"},
	{GCPIAP, CookieName, "__Host-GCP_IAP_AUTH_TOKEN", Strong, "IAP's session cookie"},
	{GCPIAP, TargetHost, ".cloud.goog", Weak, "Kubeflow on Google Cloud serves https://<name>.endpoints.<project>.cloud.goog"},
	{GCPIAP, ClusterObject, "Deployment */iap-enabler", Weak, "Kubeflow on Google Cloud's iap-enabler"},
	{GCPIAP, ClusterObject, "Ingress istio-system/envoy-ingress", Weak, "Kubeflow on Google Cloud's ingress in front of istio-ingressgateway"},

	// AWS: the ALB authenticates against Cognito.
	{AWSCognito, LocationHost, ".amazoncognito.com", Strong, "the ALB redirects to <domain>.auth.<region>.amazoncognito.com/oauth2/authorize"},
	{AWSCognito, CookieName, "AWSELBAuthSessionCookie", Strong, "the ALB's session cookies AWSELBAuthSessionCookie-0, -1 (the Kubeflow on AWS guide passes them as cookies=)"},
	{AWSCognito, RedirectURI, "/oauth2/idpresponse", Strong, "the ALB's authentication callback"},
	{AWSCognito, HeaderValue, "Server: awselb", Weak, "an AWS load balancer answered"},
	{AWSCognito, ClusterObject, "Deployment kube-system/aws-load-balancer-controller", Weak, "the AWS Load Balancer Controller runs the ALB"},

	// Azure: Entra ID (AAD).
	{AzureAD, LocationHost, "login.microsoftonline.com", Strong, "Entra ID's authorize endpoint login.microsoftonline.com/<tenant>/oauth2/v2.0/authorize"},
	{AzureAD, LocationHost, "login.windows.net", Strong, "Entra ID's older authorize host"},
	{AzureAD, BodyText, "AADSTS", Strong, "Entra ID's error codes (AADSTS50011 …)"},

	// IBM Cloud App ID.
	{IBMAppID, LocationHost, ".appid.cloud.ibm.com", Strong, "App ID's authorization endpoint <region>.appid.cloud.ibm.com/oauth/v4/<tenant>/authorization"},
	{IBMAppID, CookieName, "appid-", Weak, "App ID's web session cookies"},

	// Google's inverse proxy in front of hosted KFP.
	{GCPInverse, TargetHost, ".pipelines.googleusercontent.com", Strong, "kfp.Client's own _is_inverse_proxy_host: the hosted endpoint <id>-dot-<region>.pipelines.googleusercontent.com"},
	{GCPInverse, HeaderValue, "Set-Cookie: cloud_datalab_tunnel", Strong, "kubeflow/pipelines#4624: the proxy's 401 page sets S=cloud_datalab_tunnel="},

	// Other OIDC providers: the login form is theirs, not Dex's.
	{OtherOIDC, LocationPath, "/protocol/openid-connect/auth", Strong, "Keycloak's authorization endpoint /realms/<realm>/protocol/openid-connect/auth (kubeflow/manifests#2513)"},
	{OtherOIDC, LocationHost, ".okta.com", Strong, "Okta's authorization endpoint <org>.okta.com/oauth2/…/v1/authorize"},
	{OtherOIDC, LocationHost, ".auth0.com", Strong, "Auth0's authorization endpoint <tenant>.auth0.com/authorize"},
}

// Table returns the signatures (for documentation and tests).
func Table() []Signature { return append([]Signature(nil), table...) }

// Answer is the gateway's answer to an anonymous browser GET of the
// protected path (or any answer on the way into the login), as the doctor
// read it: nothing was sent but the request.
type Answer struct {
	URL    *url.URL // what was asked
	Status int
	Header http.Header
	Body   []byte
}

// Signal is one row of the table that matched, said for a person.
type Signal struct {
	Distro   ID
	Strength int
	Seen     string // "Location host accounts.google.com", no secret values
}

// Match is what was recognised.
type Match struct {
	Distribution Distribution
	Signals      []Signal // those that point to it
	Others       []Signal // those that point elsewhere (a relay, a weak hint)
}

// Seen joins the signals of the match for a one-line message.
func (m Match) Seen() string {
	parts := make([]string, 0, len(m.Signals))
	for _, s := range m.Signals {
		parts = append(parts, s.Seen)
	}
	return strings.Join(parts, ", ")
}

// Observe matches answers (in the order they came) and the endpoint's host
// against the table; cluster objects come from ObserveCluster.
func Observe(host *url.URL, answers ...Answer) []Signal {
	var out []Signal
	seen := map[string]bool{}
	add := func(sig Signature, what string) {
		key := string(sig.Distro) + "|" + what
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, Signal{Distro: sig.Distro, Strength: sig.Strength, Seen: what})
	}
	for _, sig := range table {
		if sig.Where == TargetHost && host != nil && hasHostSuffix(host.Hostname(), sig.Value) {
			add(sig, "host "+host.Hostname())
		}
	}
	for _, a := range answers {
		loc := location(a)
		cookies := (&http.Response{Header: a.Header}).Cookies()
		lowerBody := strings.ToLower(string(a.Body))
		for _, sig := range table {
			switch sig.Where {
			case LocationHost:
				if loc != nil && hasHostSuffix(loc.Hostname(), sig.Value) {
					add(sig, "redirect to "+loc.Hostname())
				}
			case LocationPath:
				if loc != nil && hasSegments(loc.Path, sig.Value) {
					add(sig, "redirect to "+sig.Value)
				}
			case RedirectURI:
				if loc == nil {
					break
				}
				if ru, err := url.Parse(loc.Query().Get("redirect_uri")); err == nil && ru.Path != "" && hasSegments(ru.Path, sig.Value) {
					add(sig, "redirect_uri "+sig.Value)
				}
			case CookieName:
				for _, c := range cookies {
					if strings.HasPrefix(c.Name, sig.Value) {
						add(sig, "cookie "+c.Name)
					}
				}
			case HeaderName:
				if a.Header.Get(sig.Value) != "" {
					add(sig, "header "+sig.Value)
				}
			case HeaderValue:
				name, sub, _ := strings.Cut(sig.Value, ": ")
				if v := a.Header.Get(name); v != "" && strings.Contains(strings.ToLower(v), strings.ToLower(sub)) {
					// The matched words only: a header such as Set-Cookie
					// may carry a session beside them.
					add(sig, "header "+name+": …"+sub+"…")
				}
			case BodyText:
				if strings.Contains(lowerBody, strings.ToLower(sig.Value)) {
					add(sig, "body "+quoteShort(sig.Value))
				}
			}
		}
	}
	return out
}

// Object is one cluster object the doctor could list.
type Object struct {
	Kind, Namespace, Name string
}

// ObserveCluster matches listed objects against the table.
func ObserveCluster(objs []Object) []Signal {
	var out []Signal
	seen := map[string]bool{}
	for _, sig := range table {
		if sig.Where != ClusterObject && sig.Where != ClusterPrefix {
			continue
		}
		kind, nsName, _ := strings.Cut(sig.Value, " ")
		ns, name, _ := strings.Cut(nsName, "/")
		if ns == "*%iap-enabler" { // "Deployment */iap-enabler": any namespace
			ns, name = "*", "iap-enabler"
		}
		for _, o := range objs {
			if o.Kind != kind || (ns != "*" && o.Namespace != ns) {
				continue
			}
			if o.Name == name || (sig.Where == ClusterPrefix && strings.HasPrefix(o.Name, name)) {
				what := strings.ToLower(o.Kind) + " " + o.Namespace + "/" + o.Name
				if key := string(sig.Distro) + "|" + what; !seen[key] {
					seen[key] = true
					out = append(out, Signal{Distro: sig.Distro, Strength: sig.Strength, Seen: what})
				}
			}
		}
	}
	return out
}

// Recognise decides from signals: the stack with the highest rank whose
// signals reach Strong (one strong, or weak ones adding up), ties broken by
// the sum of strengths and then by id. ok is false when no stack reaches
// it.
func Recognise(signals []Signal) (m Match, ok bool) {
	score := map[ID]int{}
	for _, s := range signals {
		score[s.Distro] += s.Strength
	}
	var best ID
	for id, sc := range score {
		if sc < Strong {
			continue
		}
		if best == "" || better(id, sc, best, score[best]) {
			best = id
		}
	}
	if best == "" {
		return Match{Others: signals}, false
	}
	m.Distribution = distributions[best]
	for _, s := range signals {
		if s.Distro == best {
			m.Signals = append(m.Signals, s)
		} else {
			m.Others = append(m.Others, s)
		}
	}
	return m, true
}

func better(a ID, sa int, b ID, sb int) bool {
	ra, rb := distributions[a].rank, distributions[b].rank
	if ra != rb {
		return ra > rb
	}
	if sa != sb {
		return sa > sb
	}
	return a < b
}

// location is an answer's redirect target, resolved against what was asked.
func location(a Answer) *url.URL {
	if a.Status < 300 || a.Status >= 400 || a.Header == nil {
		return nil
	}
	l := a.Header.Get("Location")
	if l == "" {
		return nil
	}
	base := a.URL
	if base == nil {
		base = &url.URL{}
	}
	u, err := base.Parse(l)
	if err != nil {
		return nil
	}
	return u
}

// hasHostSuffix matches a host or, for ".x", any host under x.
func hasHostSuffix(host, suffix string) bool {
	host, suffix = strings.ToLower(host), strings.ToLower(suffix)
	if strings.HasPrefix(suffix, ".") {
		return strings.HasSuffix(host, suffix)
	}
	return host == suffix || strings.HasSuffix(host, "."+suffix)
}

// hasSegments reports that path holds seq ("/oauth2/start") as whole
// segments, anywhere: a gateway served under a prefix still counts.
func hasSegments(path, seq string) bool {
	return strings.Contains(strings.TrimRight(path, "/")+"/", strings.TrimRight(seq, "/")+"/")
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "\"" + s + "\""
}

// ByHost recognises the endpoint itself as a stack's (a strong host row of
// the table): Google's inverse proxy serves hosted KFP at its own hosts.
func ByHost(u *url.URL) (Distribution, bool) {
	if u == nil || u.Hostname() == "" {
		return Distribution{}, false
	}
	for _, sig := range table {
		if sig.Where == TargetHost && sig.Strength == Strong && hasHostSuffix(u.Hostname(), sig.Value) {
			return distributions[sig.Distro], true
		}
	}
	return Distribution{}, false
}

// SignIn recognises u as a cloud's own sign-in page (a Location host row of
// the table): a client that is sent there has met that distribution's login,
// which no Dex form and no KFP answer lies behind.
func SignIn(u *url.URL) (Distribution, bool) {
	if u == nil || u.Hostname() == "" {
		return Distribution{}, false
	}
	for _, sig := range table {
		if sig.Where == LocationHost && sig.Strength == Strong && hasHostSuffix(u.Hostname(), sig.Value) {
			if d := distributions[sig.Distro]; !d.Login {
				return d, true
			}
		}
	}
	return Distribution{}, false
}
