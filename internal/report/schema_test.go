package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	withFacts := probe.Passf("host http://h (host=)")
	withFacts.Facts = map[string]string{"host": "http://h", "host_source": "host=", "credentials": "none"}
	results := run(t, context.Background(),
		constant("sdk", withFacts),
		constant("pass", probe.Passf("fine")),
		constant("warn", probe.Warned(kfd.LoginHelper, "the helper would stop")),
		constant("fail", probe.Result{Status: probe.Fail, KFD: kfd.NoIdentity, Message: "HTTP 401",
			Evidence: &probe.Evidence{Request: "GET http://h/apis/v2beta1/experiments", StatusCode: 401, Body: `{"code":16}`}}),
		probe.Probe[none]{ID: "skip", Title: "skip", DependsOn: []string{"fail"}, Run: func(context.Context, none) probe.Result { return probe.Passf("never") }},
	)
	rep := &Report{Target: "http://h", Details: "namespace p", Results: results, Elapsed: 3 * time.Millisecond, Tool: "kfp-doctor v1.2.3",
		Facts: map[string]string{"scenario": "standalone-out-of-cluster"}}
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
	// The details line as data: the run's facts and the probes', merged.
	facts, _ := doc["facts"].(map[string]any)
	if facts["scenario"] != "standalone-out-of-cluster" || facts["host_source"] != "host=" || facts["credentials"] != "none" {
		t.Errorf("facts %v", doc["facts"])
	}
	if r0, _ := doc["results"].([]any)[0].(map[string]any); r0["facts"] == nil {
		t.Errorf("the sdk result has no facts: %v", r0)
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(doc["started_at"])); err != nil {
		t.Errorf("started_at %v: %v", doc["started_at"], err)
	}
	// The schema refuses what would break a consumer.
	for name, breakIt := range map[string]func(map[string]any){
		"no schema_version":   func(d map[string]any) { delete(d, "schema_version") },
		"unknown status":      func(d map[string]any) { d["results"].([]any)[0].(map[string]any)["status"] = "ok" },
		"ok as a string":      func(d map[string]any) { d["ok"] = "false" },
		"a fact not a string": func(d map[string]any) { d["facts"].(map[string]any)["in_pod"] = false },
		"result facts a list": func(d map[string]any) { d["results"].([]any)[0].(map[string]any)["facts"] = []any{"host"} },
	} {
		var broken map[string]any
		_ = json.Unmarshal(b.Bytes(), &broken)
		breakIt(broken)
		if validate.AgainstSchema(&schema, broken, strfmt.Default) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
