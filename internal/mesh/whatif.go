package mesh

import (
	"slices"

	"google.golang.org/protobuf/proto"
	secv1beta1 "istio.io/api/security/v1beta1"
)

// AddPrincipal returns a copy of c in which rule (0-based) of the
// AuthorizationPolicy p also admits principal, in every source of the rule
// that lists principals: what "add the principal to the policy" changes.
// ok is false when the rule has no source listing principals.
func (c *Config) AddPrincipal(p Ref, rule int, principal string) (*Config, bool) {
	out := *c
	out.AuthorizationPolicies = slices.Clone(c.AuthorizationPolicies)
	for i := range out.AuthorizationPolicies {
		ap := &out.AuthorizationPolicies[i]
		if ap.Ref != p || rule >= len(ap.Spec.GetRules()) {
			continue
		}
		spec := proto.Clone(ap.Spec).(*secv1beta1.AuthorizationPolicy)
		changed := false
		for _, f := range spec.GetRules()[rule].GetFrom() {
			if s := f.GetSource(); s != nil && len(s.Principals) > 0 {
				s.Principals = append(s.Principals, principal)
				changed = true
			}
		}
		if !changed {
			return nil, false
		}
		ap.Spec = spec
		return &out, true
	}
	return nil, false
}
