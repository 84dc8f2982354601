package doctor

import "strings"

// facts are the plan as data for the report (-o json "facts", JUnit
// properties): what the details line says, keyed. The probes add their own
// under these (the sdk probe's host and namespace sources, the distribution).
func (p *Plan) facts() map[string]string {
	f := map[string]string{}
	if p.Scenario != "" {
		f["scenario"] = p.Scenario
	}
	if p.Given.Value != "" {
		f["host_given_by"] = p.Given.Flag()
	}
	if p.ClientSource != "" {
		f["client_config"] = p.ClientSource
	}
	if p.ContextNamespace != "" {
		f["kubeconfig_namespace"] = p.ContextNamespace
	}
	if len(p.Credentials) == 0 {
		f["credential_chain"] = "none"
	} else {
		parts := make([]string, 0, len(p.Credentials))
		for _, c := range p.Credentials {
			part := c.Kind
			if c.From != "" {
				part += " from " + c.From
			}
			parts = append(parts, part)
		}
		f["credential_chain"] = strings.Join(parts, "; ")
	}
	return f
}
