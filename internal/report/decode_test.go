package report

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// What JSON writes, ReadJSON reads back: every field of every result, the
// writer's verdict and counts, and the run's identity; text after the value
// (a log's next lines) does not stop it.
func TestReadJSONRoundTrip(t *testing.T) {
	results := run(t, context.Background(),
		constant("healthz", probe.Result{Status: probe.Pass, Message: "KFP answers", Evidence: &probe.Evidence{Request: "GET http://h/apis/v2beta1/healthz", StatusCode: 200, Body: `{"x":1}`}}),
		constant("token", probe.Result{Status: probe.Fail, KFD: kfd.ServerError, Message: "500 from the server"}),
		constant("pod-default", probe.Skipped("not in a pod")),
	)
	rep := &Report{Target: "http://h", Details: "namespace ns-1", Results: results, Elapsed: 1234 * time.Millisecond, Tool: "kfp-doctor v1", Context: "kind-a"}
	var b bytes.Buffer
	if err := rep.JSON(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("kfp-doctor: a line the log had after the report\n")
	d, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion != SchemaVersion || d.OK || d.Summary != (Counts{Passed: 1, Failed: 1, Skipped: 1}) {
		t.Errorf("schema %q ok %t summary %+v", d.SchemaVersion, d.OK, d.Summary)
	}
	got := d.Report
	if got.Target != rep.Target || got.Details != rep.Details || got.Tool != rep.Tool || got.Context != rep.Context || got.Elapsed != rep.Elapsed {
		t.Errorf("header %+v, want %+v", got, rep)
	}
	if len(got.Results) != len(results) {
		t.Fatalf("%d results, want %d", len(got.Results), len(results))
	}
	for i, w := range results {
		g := got.Results[i]
		w.Duration = w.Duration.Truncate(time.Millisecond)
		if g.Probe != w.Probe || g.Title != w.Title || g.Status != w.Status || g.Message != w.Message || g.Hint != w.Hint || g.Doc != w.Doc || g.Duration != w.Duration {
			t.Errorf("result %d = %+v, want %+v", i, g, w)
		}
		// JSON leaves out the id of a passing result.
		if wantKFD := w.KFD; w.Status == probe.Pass && g.KFD != "" || w.Status != probe.Pass && g.KFD != wantKFD {
			t.Errorf("result %d KFD %q, want %q", i, g.KFD, wantKFD)
		}
		if (g.Evidence == nil) != (w.Evidence == nil) || g.Evidence != nil && *g.Evidence != *w.Evidence {
			t.Errorf("result %d evidence %+v, want %+v", i, g.Evidence, w.Evidence)
		}
	}
}

func TestReadJSONRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, msg string }{
		{"empty", "", "EOF"},
		{"not JSON", "kfp-doctor: --host: bad URL\n", "invalid character"},
		{"other schema", `{"schema_version":"2","ok":true,"results":[]}`, `schema_version "2"`},
		{"no schema", `{"ok":true}`, `schema_version ""`},
		{"wrong type", `{"schema_version":"1","results":{}}`, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.msg)
			}
			if strings.HasPrefix(tc.msg, "schema_version") && !errors.Is(err, ErrSchema) {
				t.Errorf("error %v is not ErrSchema", err)
			}
		})
	}
}
