package programs

// MainRef is the main image reference of the program called name (its first
// repository at its first tag); it panics for a name the catalogue lacks,
// which is a programming error.
func MainRef(name string) string {
	p, ok := Named(name)
	if !ok {
		panic("programs: no program " + name)
	}
	return p.Repos[0] + ":" + p.Tags[0]
}

// KFPRefs are the images a KFP install on a node cluster needs: its API
// server, its UI and Kubeflow's gateway, at the fixtures' tags.
func KFPRefs() []string {
	return []string{MainRef("kfp-api-server"), MainRef("kfp-frontend"), MainRef(Gateway)}
}

// LoginRefs are the login stack's images, every tag the fixtures and the
// upstream manifests name them by: Dex, oauth2-proxy, OpenLDAP.
func LoginRefs() []string {
	var out []string
	for _, n := range []string{"dex", "oauth2-proxy", "openldap"} {
		p, _ := Named(n)
		out = append(out, p.Refs()...)
	}
	return out
}

// MeshRefs are the images a multi-user install's mesh needs on a node
// cluster besides the gateway's proxy (KFPRefs): istiod and the
// cluster-jwks-proxy's kubectl, at the fixtures' tags.
func MeshRefs() []string { return []string{MainRef(Istiod), MainRef("kubectl")} }
