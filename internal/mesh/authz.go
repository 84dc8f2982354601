package mesh

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	secv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

// Workload is what a policy's selector is matched against: a pod's
// namespace and labels.
type Workload struct {
	Namespace string
	Labels    map[string]string
}

// selects is the scope rule shared by the three kinds (AuthorizationPolicy
// "Authorization Policy scope", PeerAuthentication and RequestAuthentication
// "selector"): a policy applies to workloads of its own namespace, or of
// every namespace when it is in the root namespace; a selector narrows it
// to workloads carrying all its labels. A policy with targetRef(s) attaches
// to gateways and waypoints of the Gateway API, never to a sidecar.
func (c *Config) selects(ns string, sel *typev1beta1.WorkloadSelector, targeted bool, w Workload) bool {
	if targeted || (ns != w.Namespace && ns != c.Root()) {
		return false
	}
	for k, v := range sel.GetMatchLabels() {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Identity is a verified JWT: what RequestAuthentication gives the
// authorization step (request.auth.* and requestPrincipals).
type Identity struct {
	Issuer, Subject string
	Claims          map[string]any
}

// Principal is request.auth.principal: <iss>/<sub>.
func (id *Identity) Principal() string { return id.Issuer + "/" + id.Subject }

func (id *Identity) claim(path []string) any {
	var v any = id.Claims
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Request is one HTTP request as a workload's sidecar sees it.
type Request struct {
	Method string
	// Host is the :authority, as the client sent it (port included).
	Host string
	// Path is the request path as sent; it is normalized before matching.
	Path   string
	Header http.Header
	// Port is the destination port: the workload's port the request came in on.
	Port int
	// SourceIP is the peer address (source.ip, ipBlocks); RemoteIP the
	// original client's, from X-Forwarded-For on a gateway configured to
	// trust it (remote.ip, remoteIpBlocks), else SourceIP.
	SourceIP, RemoteIP, DestinationIP netip.Addr
	// Peer is the source principal from the peer's mTLS certificate,
	// <trust domain>/ns/<ns>/sa/<sa>; "" for plaintext (a client outside
	// the mesh, or mTLS disabled).
	Peer string
	// SNI is the requested server name of the TLS connection, if any.
	SNI string
	// JWT is the verified token, nil when there is none.
	JWT *Identity
}

func (r *Request) remoteIP() netip.Addr {
	if r.RemoteIP.IsValid() {
		return r.RemoteIP
	}
	return r.SourceIP
}

// Verdict is the outcome of the DENY and ALLOW policies for one request.
type Verdict struct {
	Allowed bool
	// Policy is the policy that decided: the DENY that matched, or the
	// ALLOW that admitted. Nil when no ALLOW policy selects the workload
	// (allowed), or when none matched (denied: see Misses).
	Policy *Ref
	// Rule is the index of Policy's rule that matched.
	Rule int
	// Misses, for a request no ALLOW policy admitted, says for each ALLOW
	// policy selecting the workload why each of its rules did not match.
	Misses []Miss
}

// Miss is one ALLOW policy that did not admit a request.
type Miss struct {
	Policy Ref
	// Rules holds one reason per rule; none means the policy has no rules
	// and admits nothing (global-deny-all).
	Rules []string
}

func (v Verdict) String() string {
	switch {
	case v.Allowed && v.Policy == nil:
		return "allowed: no ALLOW policy selects the workload"
	case v.Allowed:
		return fmt.Sprintf("allowed by %s rule %d", v.Policy, v.Rule+1)
	case v.Policy != nil:
		return fmt.Sprintf("denied by DENY policy %s rule %d", v.Policy, v.Rule+1)
	}
	var parts []string
	for _, m := range v.Misses {
		parts = append(parts, m.String())
	}
	return "denied: no ALLOW policy matched (" + strings.Join(parts, "; ") + ")"
}

func (m Miss) String() string {
	if len(m.Rules) == 0 {
		return m.Policy.String() + " has no rules (allows nothing)"
	}
	var b strings.Builder
	b.WriteString(m.Policy.String())
	for i, r := range m.Rules {
		fmt.Fprintf(&b, " rule %d: %s;", i+1, r)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Custom reports the CUSTOM policy whose rules match the request, and the
// extension provider it delegates to; the caller then asks that provider
// (Envoy's ext_authz) and denies when it denies. CUSTOM is evaluated before
// authentication (istio/istio's listener builder puts the CUSTOM ext_authz
// filter ahead of jwt_authn), so its rules see no verified JWT.
func (c *Config) Custom(w Workload, r *Request) (provider string, policy Ref, ok bool) {
	for i := range c.AuthorizationPolicies {
		p := &c.AuthorizationPolicies[i]
		if p.Spec.GetAction() != secv1beta1.AuthorizationPolicy_CUSTOM || p.DryRun || !c.applies(p, w) {
			continue
		}
		if _, hit := c.firstMatch(p, r); hit {
			return p.Spec.GetProvider().GetName(), p.Ref, true
		}
	}
	return "", Ref{}, false
}

func (c *Config) applies(p *AuthorizationPolicy, w Workload) bool {
	return c.selects(p.Namespace, p.Spec.GetSelector(), p.Spec.GetTargetRef() != nil || len(p.Spec.GetTargetRefs()) > 0, w)
}

// Authorize evaluates the DENY and then the ALLOW policies selecting w, as
// the reference states: any matching DENY denies; with no ALLOW policy the
// request is allowed; a matching ALLOW allows; otherwise it is denied. An
// ALLOW policy without rules matches nothing. Dry-run and AUDIT policies
// decide nothing.
func (c *Config) Authorize(w Workload, r *Request) Verdict {
	for i := range c.AuthorizationPolicies {
		p := &c.AuthorizationPolicies[i]
		if p.Spec.GetAction() != secv1beta1.AuthorizationPolicy_DENY || p.DryRun || !c.applies(p, w) {
			continue
		}
		if rule, hit := c.firstMatch(p, r); hit {
			return Verdict{Policy: &p.Ref, Rule: rule}
		}
	}
	var misses []Miss
	for i := range c.AuthorizationPolicies {
		p := &c.AuthorizationPolicies[i]
		if p.Spec.GetAction() != secv1beta1.AuthorizationPolicy_ALLOW || p.DryRun || !c.applies(p, w) {
			continue
		}
		miss := Miss{Policy: p.Ref}
		for j, rule := range p.Spec.GetRules() {
			ok, why := c.matchRule(p, rule, r)
			if ok {
				return Verdict{Allowed: true, Policy: &p.Ref, Rule: j}
			}
			miss.Rules = append(miss.Rules, why)
		}
		misses = append(misses, miss)
	}
	return Verdict{Allowed: misses == nil, Misses: misses}
}

// Selecting lists the AuthorizationPolicies that apply to w, enforced or
// not, in the order Authorize reads them.
func (c *Config) Selecting(w Workload) []*AuthorizationPolicy {
	var out []*AuthorizationPolicy
	for i := range c.AuthorizationPolicies {
		if p := &c.AuthorizationPolicies[i]; c.applies(p, w) {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) firstMatch(p *AuthorizationPolicy, r *Request) (int, bool) {
	for j, rule := range p.Spec.GetRules() {
		if ok, _ := c.matchRule(p, rule, r); ok {
			return j, true
		}
	}
	return 0, false
}

// matchRule is one rule: at least one source, at least one operation and
// every condition must match (Rule: "A match occurs when at least one
// source, one operation and all conditions matches the request. An empty
// rule is always matched."). It returns why not, naming the first part
// that failed.
//
// Values that cannot be read (an IP that is not one, a port out of range)
// follow istio/istio's generator (model.go checkError): in an ALLOW policy
// the rule is dropped, so it never matches; in a DENY or CUSTOM policy the
// value is ignored, making the rule wider. An unknown condition key drops
// the rule whatever the action (model.New fails for it).
func (c *Config) matchRule(p *AuthorizationPolicy, rule *secv1beta1.Rule, r *Request) (bool, string) {
	m := matcher{c: c, r: r, ns: p.Namespace}
	if rule == nil {
		return true, ""
	}
	for _, cond := range rule.GetWhen() {
		if !knownKey(cond.GetKey()) {
			return false, fmt.Sprintf("unknown condition key %q: Istio drops the rule", cond.GetKey())
		}
	}
	if p.Spec.GetAction() == secv1beta1.AuthorizationPolicy_ALLOW {
		if err := validate(rule); err != nil {
			return false, fmt.Sprintf("%v: Istio drops this ALLOW rule", err)
		}
	}
	if froms := rule.GetFrom(); len(froms) > 0 {
		var why []string
		hit := false
		for _, f := range froms {
			if ok, reason := m.source(f.GetSource()); ok {
				hit = true
				break
			} else {
				why = append(why, reason)
			}
		}
		if !hit {
			return false, "from: " + strings.Join(why, ", or ")
		}
	}
	if tos := rule.GetTo(); len(tos) > 0 {
		var why []string
		hit := false
		for _, t := range tos {
			if ok, reason := m.operation(t.GetOperation()); ok {
				hit = true
				break
			} else {
				why = append(why, reason)
			}
		}
		if !hit {
			return false, "to: " + strings.Join(why, ", or ")
		}
	}
	for _, cond := range rule.GetWhen() {
		if ok, reason := m.condition(cond); !ok {
			return false, "when " + reason
		}
	}
	return true, ""
}

// validate finds the values an ALLOW rule cannot have: addresses and ports
// that do not parse.
func validate(rule *secv1beta1.Rule) error {
	var errs []error
	ips := func(vs ...[]string) {
		for _, l := range vs {
			for _, v := range l {
				if _, err := parseCIDR(v); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	ports := func(vs ...[]string) {
		for _, l := range vs {
			for _, v := range l {
				if _, err := parsePort(v); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for _, f := range rule.GetFrom() {
		s := f.GetSource()
		ips(s.GetIpBlocks(), s.GetNotIpBlocks(), s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks())
	}
	for _, t := range rule.GetTo() {
		ports(t.GetOperation().GetPorts(), t.GetOperation().GetNotPorts())
	}
	for _, c := range rule.GetWhen() {
		switch c.GetKey() {
		case keySourceIP, keyRemoteIP, keyDestIP:
			ips(c.GetValues(), c.GetNotValues())
		case keyDestPort:
			ports(c.GetValues(), c.GetNotValues())
		}
	}
	return errors.Join(errs...)
}

// matcher holds one rule's evaluation against one request.
type matcher struct {
	c  *Config
	r  *Request
	ns string // the policy's namespace (serviceAccounts without one)
}

// field matches one field and its not-form: values are ORed, the not-form
// is the negation of the OR of its values, and both must hold when both
// are set. A value that cannot be read (only a DENY or CUSTOM rule still
// has one, see validate) is left out, and a list left empty no longer
// constrains the rule: it gets wider, as checkError makes it.
func (m *matcher) field(name, got string, values, notValues []string, match func(string) (bool, error)) (bool, string) {
	eval := func(vs []string) (any bool, usable int) {
		for _, v := range vs {
			ok, err := match(v)
			if err != nil {
				continue
			}
			usable++
			any = any || ok
		}
		return any, usable
	}
	if len(values) > 0 {
		if hit, usable := eval(values); !hit && usable > 0 {
			return false, fmt.Sprintf("%s %s is none of %s", name, got, list(values))
		}
	}
	if len(notValues) > 0 {
		if hit, _ := eval(notValues); hit {
			return false, fmt.Sprintf("%s %s matches notValues %s", name, got, list(notValues))
		}
	}
	return true, ""
}

func list(vs []string) string { return "[" + strings.Join(vs, ", ") + "]" }

func quoted(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}

func (m *matcher) peer() string {
	if m.r.Peer == "" {
		return "(none: plaintext, no mTLS peer)"
	}
	return fmt.Sprintf("%q", m.r.Peer)
}

func (m *matcher) requestPrincipal() string {
	if m.r.JWT == nil {
		return "(none: no verified JWT)"
	}
	return fmt.Sprintf("%q", m.r.JWT.Principal())
}

func (m *matcher) ipMatch(ip netip.Addr) func(string) (bool, error) {
	return func(v string) (bool, error) {
		p, err := parseCIDR(v)
		if err != nil {
			return false, err
		}
		return ip.IsValid() && p.Contains(ip.Unmap()), nil
	}
}

func always(f func(string) bool) func(string) (bool, error) {
	return func(v string) (bool, error) { return f(v), nil }
}

// source is one from.source; its fields are ANDed (Source).
func (m *matcher) source(s *secv1beta1.Source) (bool, string) {
	if s == nil {
		return true, ""
	}
	r := m.r
	checks := []func() (bool, string){
		func() (bool, string) {
			return m.field("principal", m.peer(), s.GetPrincipals(), s.GetNotPrincipals(),
				always(func(v string) bool { return principalMatch(v, r.Peer) }))
		},
		func() (bool, string) {
			return m.field("request principal", m.requestPrincipal(), s.GetRequestPrincipals(), s.GetNotRequestPrincipals(),
				always(func(v string) bool { return requestPrincipalMatch(v, r.JWT) }))
		},
		func() (bool, string) {
			return m.field("source namespace of peer", m.peer(), s.GetNamespaces(), s.GetNotNamespaces(),
				always(func(v string) bool { return namespaceMatch(v, r.Peer) }))
		},
		func() (bool, string) {
			return m.field("service account of peer", m.peer(), s.GetServiceAccounts(), s.GetNotServiceAccounts(),
				always(func(v string) bool { return serviceAccountMatch(v, m.ns, r.Peer) }))
		},
		func() (bool, string) {
			return m.field("trust domain of peer", m.peer(), s.GetTrustDomains(), s.GetNotTrustDomains(),
				always(func(v string) bool { return trustDomainMatch(v, r.Peer) }))
		},
		func() (bool, string) {
			return m.field("source IP", r.SourceIP.String(), s.GetIpBlocks(), s.GetNotIpBlocks(), m.ipMatch(r.SourceIP))
		},
		func() (bool, string) {
			return m.field("remote IP", r.remoteIP().String(), s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks(), m.ipMatch(r.remoteIP()))
		},
	}
	for _, check := range checks {
		if ok, why := check(); !ok {
			return false, why
		}
	}
	return true, ""
}

// operation is one to.operation; its fields are ANDed (Operation). Hosts
// match case-insensitively; paths after normalization, without the query.
func (m *matcher) operation(o *secv1beta1.Operation) (bool, string) {
	if o == nil {
		return true, ""
	}
	r := m.r
	path := NormalizePath(r.Path)
	checks := []func() (bool, string){
		func() (bool, string) {
			return m.field("host", quoted(r.Host), o.GetHosts(), o.GetNotHosts(),
				always(func(v string) bool { return r.Host != "" && stringMatch(v, r.Host, true) }))
		},
		func() (bool, string) {
			return m.field("port", fmt.Sprint(r.Port), o.GetPorts(), o.GetNotPorts(), func(v string) (bool, error) {
				p, err := parsePort(v)
				return p == r.Port, err
			})
		},
		func() (bool, string) {
			return m.field("method", quoted(r.Method), o.GetMethods(), o.GetNotMethods(),
				always(func(v string) bool { return headerMatch(v, []string{r.Method}, r.Method != "") }))
		},
		func() (bool, string) {
			return m.field("path", quoted(path), o.GetPaths(), o.GetNotPaths(),
				always(func(v string) bool { return pathMatch(v, path) }))
		},
	}
	for _, check := range checks {
		if ok, why := check(); !ok {
			return false, why
		}
	}
	return true, ""
}

// The condition keys of istio.io's Authorization Policy Conditions page
// (model.go's attr* constants).
const (
	keyHeaders    = "request.headers"
	keyClaims     = "request.auth.claims"
	keySourceIP   = "source.ip"
	keyRemoteIP   = "remote.ip"
	keySourceNS   = "source.namespace"
	keySourcePrin = "source.principal"
	keyReqPrin    = "request.auth.principal"
	keyAudiences  = "request.auth.audiences"
	keyPresenter  = "request.auth.presenter"
	keyDestIP     = "destination.ip"
	keyDestPort   = "destination.port"
	keySNI        = "connection.sni"
	keyEnvoy      = "experimental.envoy.filters."
)

func knownKey(k string) bool {
	switch k {
	case keySourceIP, keyRemoteIP, keySourceNS, keySourcePrin, keyReqPrin, keyAudiences, keyPresenter, keyDestIP, keyDestPort, keySNI:
		return true
	}
	_, err := bracketed(k)
	return err == nil && (strings.HasPrefix(k, keyHeaders+"[") || strings.HasPrefix(k, keyClaims+"["))
}

// bracketed reads the names in brackets after a key's prefix:
// request.headers[x-a] → [x-a]; request.auth.claims[a][b] → [a b].
func bracketed(key string) ([]string, error) {
	i := strings.IndexByte(key, '[')
	if i < 0 || !strings.HasSuffix(key, "]") {
		return nil, fmt.Errorf("no [name] in %q", key)
	}
	inner := key[i+1 : len(key)-1]
	names := strings.Split(inner, "][")
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "[]") {
			return nil, fmt.Errorf("bad [name] in %q", key)
		}
	}
	return names, nil
}

// condition is one `when` entry (Condition): values ORed, notValues
// negated, and both must hold when both are set.
func (m *matcher) condition(cond *secv1beta1.Condition) (bool, string) {
	r, k := m.r, cond.GetKey()
	vs, nvs := cond.GetValues(), cond.GetNotValues()
	switch {
	case strings.HasPrefix(k, keyHeaders+"["):
		names, _ := bracketed(k)
		got, present := r.Header.Values(names[0]), len(r.Header.Values(names[0])) > 0
		desc := "absent"
		if present {
			desc = "present"
		}
		return m.field(k, desc, vs, nvs, always(func(v string) bool { return headerMatch(v, got, present) }))
	case strings.HasPrefix(k, keyClaims+"["):
		path, _ := bracketed(k)
		got := "(none)"
		if r.JWT != nil {
			got = fmt.Sprint(r.JWT.claim(path))
		}
		return m.field(k, got, vs, nvs, always(func(v string) bool { return claimMatch(v, r.JWT, path) }))
	}
	switch k {
	case keySourceIP:
		return m.field(k, r.SourceIP.String(), vs, nvs, m.ipMatch(r.SourceIP))
	case keyRemoteIP:
		return m.field(k, r.remoteIP().String(), vs, nvs, m.ipMatch(r.remoteIP()))
	case keyDestIP:
		return m.field(k, r.DestinationIP.String(), vs, nvs, m.ipMatch(r.DestinationIP))
	case keySourceNS:
		return m.field(k, m.peer(), vs, nvs, always(func(v string) bool { return namespaceMatch(v, r.Peer) }))
	case keySourcePrin:
		return m.field(k, m.peer(), vs, nvs, always(func(v string) bool { return principalMatch(v, r.Peer) }))
	case keyReqPrin:
		return m.field(k, m.requestPrincipal(), vs, nvs, always(func(v string) bool { return requestPrincipalMatch(v, r.JWT) }))
	case keyAudiences:
		return m.field(k, m.requestPrincipal(), vs, nvs, always(func(v string) bool { return claimMatch(v, r.JWT, []string{"aud"}) }))
	case keyPresenter:
		return m.field(k, m.requestPrincipal(), vs, nvs, always(func(v string) bool { return claimMatch(v, r.JWT, []string{"azp"}) }))
	case keyDestPort:
		return m.field(k, fmt.Sprint(r.Port), vs, nvs, func(v string) (bool, error) {
			p, err := parsePort(v)
			return p == r.Port, err
		})
	case keySNI:
		return m.field(k, quoted(r.SNI), vs, nvs, always(func(v string) bool { return stringMatch(v, r.SNI, false) }))
	}
	return false, fmt.Sprintf("%s: not evaluated here", k)
}
