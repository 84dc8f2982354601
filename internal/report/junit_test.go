package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// The JUnit file reads back into Ginkgo's own types, carries a timestamp
// and the run's properties, and shows a warning as a passing case whose
// output says WARNING — a failure only with --strict.
func TestJUnitIsGinkgosWithWarningsAndProperties(t *testing.T) {
	const canary = "Zq9junitCanaryValue"
	var red redact.Redactor
	red.Add(canary)
	withFacts := func(res probe.Result, f map[string]string) probe.Result { res.Facts = f; return res }
	results := run(t, context.Background(),
		constant("sdk", withFacts(probe.Passf("host http://h (host=)"), map[string]string{"host": "http://h", "host_source": "host=", "credentials": "existing-token", "credentials_source": "existing_token= from " + canary})),
		constant("distribution", withFacts(probe.Warned(kfd.DistroIAP, "recognised: Google Cloud IAP"), map[string]string{"distribution": "gcp-iap", "host": "http://other"})),
		constant("install", withFacts(probe.Passf("KFP in namespace kubeflow"), map[string]string{"scenario": "multi-user-out-of-cluster"})),
		constant("list-experiments", probe.Failed(kfd.NoIdentity, "HTTP 401")),
		probe.Probe[none]{ID: "after", Title: "after", DependsOn: []string{"list-experiments"}, Run: func(context.Context, none) probe.Result { return probe.Passf("never") }},
	)
	started := time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC)
	for _, strict := range []bool{false, true} {
		rep := &Report{Target: "http://h", Tool: "kfp-doctor v1.2.3", Context: "ctx-a", Results: results, Elapsed: 1500 * time.Millisecond,
			Started: started, Strict: strict, Redact: &red, Facts: map[string]string{"scenario": "multi-user-out-of-cluster (from --scenario)"}}
		var b bytes.Buffer
		if err := rep.JUnit(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "Zq9") {
			t.Fatalf("canary leaked:\n%s", b.String())
		}
		var suites reporters.JUnitTestSuites
		if err := xml.Unmarshal(b.Bytes(), &suites); err != nil {
			t.Fatalf("not Ginkgo's JUnit: %v\n%s", err, b.String())
		}
		if len(suites.TestSuites) != 1 {
			t.Fatalf("suites: %+v", suites)
		}
		s := suites.TestSuites[0]
		wantFailures := 1
		if strict {
			wantFailures = 2
		}
		if s.Tests != 5 || s.Failures != wantFailures || s.Skipped != 1 || suites.Failures != wantFailures || s.Timestamp != "2026-12-01T12:30:00" || s.Time != 1.5 {
			t.Errorf("strict %t: suite %+v", strict, s)
		}
		props := map[string]string{}
		for _, p := range s.Properties.Properties {
			props[p.Name] = p.Value
		}
		// The run's own facts win over the probes'; the first probe to name a
		// key wins over later ones.
		for k, v := range map[string]string{"tool": "kfp-doctor v1.2.3", "context": "ctx-a", "target": "http://h", "warnings": "1",
			"scenario": "multi-user-out-of-cluster (from --scenario)", "host": "http://h", "host_source": "host=", "credentials": "existing-token", "distribution": "gcp-iap"} {
			if props[k] != v {
				t.Errorf("strict %t: property %s = %q, want %q (all: %v)", strict, k, props[k], v, props)
			}
		}
		var warn reporters.JUnitTestCase
		for _, tc := range s.TestCases {
			if strings.HasPrefix(tc.Name, "distribution") {
				warn = tc
			}
		}
		if strict {
			if warn.Failure == nil || warn.Failure.Type != string(kfd.DistroIAP) || warn.Status != "failed" {
				t.Errorf("strict: the warning is not a failure: %+v", warn)
			}
			continue
		}
		if warn.Failure != nil || warn.Status != "passed" || !strings.HasPrefix(warn.SystemOut, "WARNING [KFD047] recognised: Google Cloud IAP") || !strings.Contains(warn.SystemOut, "doc: "+kfd.DistroIAP.Doc()) {
			t.Errorf("warning case: %+v", warn)
		}
		if warn.Properties == nil || warn.Properties.WithName("status") != "warn" || warn.Properties.WithName("kfd") != "KFD047" || warn.Properties.WithName("fact.distribution") != "gcp-iap" {
			t.Errorf("warning case properties: %+v", warn.Properties)
		}
	}
}

// Our JUnit types are Ginkgo's XML, not just something Ginkgo can read:
// what Ginkgo's own types write back from our file is our file, byte for
// byte, for a pass, a warning, a failure and a skip.
func TestJUnitIsByteForByteGinkgos(t *testing.T) {
	results := run(t, context.Background(),
		constant("sdk", probe.Passf("host http://h")),
		constant("distribution", probe.Warned(kfd.DistroIAP, "recognised: Google Cloud IAP")),
		constant("list-experiments", probe.Failed(kfd.NoIdentity, "HTTP 401 <&>")),
		probe.Probe[none]{ID: "after", Title: "after", DependsOn: []string{"list-experiments"}, Run: func(context.Context, none) probe.Result { return probe.Passf("never") }},
	)
	rep := &Report{Target: "http://h", Tool: "kfp-doctor v1.2.3", Results: results, Elapsed: time.Second, Started: time.Unix(0, 0)}
	var ours bytes.Buffer
	if err := WriteJUnit(&ours, rep, rep); err != nil {
		t.Fatal(err)
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(ours.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if b.String() != ours.String() {
		t.Fatalf("Ginkgo writes\n%s\nwe wrote\n%s", b.String(), ours.String())
	}
}
