package mesh

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func pa(ns, name, created, spec string) string {
	return "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: " + name + ", namespace: " + ns +
		", creationTimestamp: \"" + created + "\"}\nspec:\n" + spec
}

func TestPeerMode(t *testing.T) {
	const t1, t2 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
	finance := Workload{Namespace: "foo", Labels: map[string]string{"app": "finance"}}
	rows := []struct {
		name, source, policies string
		w                      Workload
		port                   int
		mode                   MTLSMode
		by                     string
	}{
		{"no policy: PERMISSIVE", refPA + ": UNSET \"Otherwise treated as PERMISSIVE\"", "", finance, 80, Permissive, ""},
		{"the namespace's policy", refPA + ": \"require mTLS traffic for all workloads under namespace foo\"",
			pa("foo", "default", t1, "  mtls: {mode: STRICT}"), finance, 80, Strict, "foo/default"},
		{"mesh-wide in the root namespace", refPA + ": \"For mesh level, put the policy in root-namespace\"",
			pa("istio-system", "default", t1, "  mtls: {mode: STRICT}"), finance, 80, Strict, "istio-system/default"},
		{"a root-namespace policy with a selector is ignored", refPA + ": \"PeerAuthentication policies with workload selectors are ignored when deployed in the root namespace\"",
			pa("istio-system", "finance", t1, "  selector: {matchLabels: {app: finance}}\n  mtls: {mode: STRICT}"), finance, 80, Permissive, ""},
		{"the workload's policy beats the namespace's", refPA + ": PERMISSIVE namespace, STRICT for finance",
			pa("foo", "default", t1, "  mtls: {mode: PERMISSIVE}") + "\n---\n" + pa("foo", "finance", t1, "  selector: {matchLabels: {app: finance}}\n  mtls: {mode: STRICT}"),
			finance, 80, Strict, "foo/finance"},
		{"portLevelMtls leaves a port in plaintext", refPA + ": STRICT for finance, port 8080 DISABLE",
			pa("foo", "default", t1, "  selector: {matchLabels: {app: finance}}\n  mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: DISABLE}}"),
			finance, 8080, Disable, "foo/default"},
		{"UNSET inherits from the namespace", refPA + ": \"Policy that inherits mTLS mode from namespace (or mesh) settings\"",
			pa("foo", "ns", t1, "  mtls: {mode: STRICT}") + "\n---\n" + pa("foo", "finance", t1, "  selector: {matchLabels: {app: finance}}\n  mtls: {mode: UNSET}\n  portLevelMtls: {8080: {mode: DISABLE}}"),
			finance, 80, Strict, "foo/ns"},
		{"the oldest of two namespace policies wins", refPA + " (Istio: the oldest policy wins among equals)",
			pa("foo", "b-new", t2, "  mtls: {mode: DISABLE}") + "\n---\n" + pa("foo", "a-old", t1, "  mtls: {mode: STRICT}"),
			finance, 80, Strict, "foo/a-old"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := config(t, row.policies)
			mode, by := c.PeerMode(row.w, row.port)
			got := ""
			if by != nil {
				got = by.String()
			}
			if mode != row.mode || got != row.by {
				t.Fatalf("mode %s by %q, want %s by %q (source: %s)", mode, got, row.mode, row.by, row.source)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	strict := config(t, pa("kubeflow", "strict", "2026-01-01T00:00:00Z", "  mtls: {mode: STRICT}"))
	disable := config(t, pa("kubeflow", "off", "2026-01-01T00:00:00Z", "  mtls: {mode: DISABLE}"))
	permissive := config(t, "")
	for _, row := range []struct {
		name, source string
		c            *Config
		client       string
		reset        bool
		peer         string
	}{
		{"STRICT resets a client outside the mesh", refPA + ": STRICT \"Connection is an mTLS tunnel (TLS with client cert must be presented)\"", strict, "", true, ""},
		{"STRICT takes a mesh client's mTLS", refPA + ": STRICT", strict, notebook, false, notebook},
		{"PERMISSIVE takes plaintext, with no peer", refPA + ": PERMISSIVE \"either plaintext or mTLS tunnel\"", permissive, "", false, ""},
		{"PERMISSIVE takes a mesh client's mTLS", refPA + ": PERMISSIVE", permissive, notebook, false, notebook},
		{"DISABLE: even a mesh client has no peer identity", refPA + ": DISABLE \"Connection is not tunneled.\"", disable, notebook, false, ""},
	} {
		t.Run(row.name, func(t *testing.T) {
			conn := row.c.Connect(apiPod, 8888, row.client)
			if conn.Reset != row.reset || conn.Peer != row.peer {
				t.Fatalf("connect = %+v, want reset %v peer %q (source: %s)", conn, row.reset, row.peer, row.source)
			}
		})
	}
}

func TestMeshConfig(t *testing.T) {
	c := config(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    rootNamespace: mesh-root
    trustDomain: example.org
    extensionProviders:
    - name: oauth2-proxy
      envoyExtAuthzHttp:
        service: oauth2-proxy.oauth2-proxy.svc.cluster.local
        port: 80
        headersToUpstreamOnAllow: [authorization, path]
        includeRequestHeadersInCheck: [authorization, cookie]`)
	if c.Root() != "mesh-root" || c.Principal("ns", "sa") != "example.org/ns/ns/sa/sa" {
		t.Fatalf("root %q, principal %q", c.Root(), c.Principal("ns", "sa"))
	}
	p := c.Providers["oauth2-proxy"]
	if p.ExtAuthzHTTP == nil || p.ExtAuthzHTTP.Port != 80 || strings.Join(p.ExtAuthzHTTP.IncludeRequestHeadersInCheck, ",") != "authorization,cookie" {
		t.Fatalf("provider %+v", p)
	}
	if d := config(t, ""); d.Root() != "istio-system" || d.Domain() != "cluster.local" {
		t.Fatalf("defaults: %q %q", d.Root(), d.Domain())
	}
}

// An object Istio's validation would refuse takes no part, and is named.
func TestInvalidObject(t *testing.T) {
	bad := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "bad", "namespace": "foo"},
		"spec":     map[string]any{"action": "MAYBE"}}}
	c := FromObjects([]*unstructured.Unstructured{bad})
	if len(c.AuthorizationPolicies) != 0 || len(c.Invalid) != 1 || !strings.Contains(c.Invalid[0], "foo/bad") {
		t.Fatalf("policies %d, invalid %v", len(c.AuthorizationPolicies), c.Invalid)
	}
}
