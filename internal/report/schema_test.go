package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// The -o json output validates against the schema in the repository
// (docs/report.schema.json), for every status a result can have; and the
// schema is strict enough to refuse output that broke the contract.
func TestJSONMatchesItsSchema(t *testing.T) {
	raw, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema spec.Schema
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("docs/report.schema.json: %v", err)
	}
	results := run(t, context.Background(),
		constant("pass", probe.Passf("fine")),
		constant("warn", probe.Warned(kfd.LoginHelper, "the helper would stop")),
		constant("fail", probe.Result{Status: probe.Fail, KFD: kfd.NoIdentity, Message: "HTTP 401",
			Evidence: &probe.Evidence{Request: "GET http://h/apis/v2beta1/experiments", StatusCode: 401, Body: `{"code":16}`}}),
		probe.Probe[none]{ID: "skip", Title: "skip", DependsOn: []string{"fail"}, Run: func(context.Context, none) probe.Result { return probe.Passf("never") }},
	)
	rep := &Report{Target: "http://h", Details: "namespace p", Results: results, Elapsed: 3 * time.Millisecond, Tool: "kfp-doctor v1.2.3"}
	var b bytes.Buffer
	if err := rep.JSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := validate.AgainstSchema(&schema, doc, strfmt.Default); err != nil {
		t.Fatalf("the report does not match its schema: %v\n%s", err, b.String())
	}
	if doc["schema_version"] != SchemaVersion || doc["tool"] != "kfp-doctor v1.2.3" {
		t.Errorf("schema_version %v, tool %v", doc["schema_version"], doc["tool"])
	}
	// The schema refuses what would break a consumer.
	for name, breakIt := range map[string]func(map[string]any){
		"no schema_version": func(d map[string]any) { delete(d, "schema_version") },
		"unknown status":    func(d map[string]any) { d["results"].([]any)[0].(map[string]any)["status"] = "ok" },
		"ok as a string":    func(d map[string]any) { d["ok"] = "false" },
	} {
		var broken map[string]any
		_ = json.Unmarshal(b.Bytes(), &broken)
		breakIt(broken)
		if validate.AgainstSchema(&schema, broken, strfmt.Default) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
