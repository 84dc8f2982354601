package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The doctor's real -o json validates against docs/report.schema.json, and
// its facts say as data what the details line says: the host and where it
// came from, the credentials' kind, the namespace, the login stack.
func TestRealJSONMatchesTheSchema(t *testing.T) {
	raw, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema spec.Schema
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	kfpSrv := kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV2:     kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: kfptest.Fixed("no auth, ns=ns-1"),
	})
	iap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "https://accounts.google.com/o/oauth2/v2/auth?client_id=1-abc.apps.googleusercontent.com&state=x")
		w.Header().Set("X-Goog-IAP-Generated-Response", "true")
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(iap.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "a.b.c")
	for _, c := range []struct {
		name  string
		env   map[string]string
		args  []string
		facts map[string]string
	}{
		{"standalone with a token file", nil, []string{"--host", kfpSrv.URL, "-n", "ns-1", "--token-file", tokenFile},
			map[string]string{"host_source": "host=", "credentials": "existing-token", "namespace": "ns-1", "namespace_source": "namespace=", "distribution": "none", "host_given_by": "--host"}},
		{"host from the environment, IAP in front", map[string]string{"KF_PIPELINES_ENDPOINT": iap.URL + "/pipeline"}, []string{"-n", "ns-1"},
			map[string]string{"host_source": "$KF_PIPELINES_ENDPOINT", "credentials": "none", "distribution": "gcp-iap", "host_given_by": "$KF_PIPELINES_ENDPOINT", "credential_chain": "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stdout, stderr := runDoctor(t, c.env, append(c.args, "-o", "json")...)
			var doc map[string]any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s%s", err, stdout, stderr)
			}
			if err := validate.AgainstSchema(&schema, doc, strfmt.Default); err != nil {
				t.Fatalf("the doctor's output does not match its schema: %v\n%s", err, stdout)
			}
			facts, _ := doc["facts"].(map[string]any)
			for k, v := range c.facts {
				if facts[k] != v {
					t.Errorf("facts[%s] = %v, want %q (all: %v)", k, facts[k], v, facts)
				}
			}
		})
	}
}
