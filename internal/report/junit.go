package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// JUnit statuses, as Ginkgo's own JUnit report spells a spec's state.
const (
	junitPassed  = "passed"
	junitFailed  = "failed"
	junitSkipped = "skipped"
)

// JUnit writes the run as one test suite with a test case per probe, in
// Ginkgo's JUnit types (the schema CI systems already read from the
// suites): a failing probe is a failing test whose failure type is its KFD
// id; a warning is a passing test (a failure with --strict) whose system-out
// starts with WARNING and whose properties say status=warn, so CI shows it
// without failing the build. The suite carries a timestamp and the run's
// properties: the tool, the target, the context, and the run's facts
// (scenario, host and its source, credentials kind …).
func (r *Report) JUnit(w io.Writer) error { return WriteJUnit(w, r) }

// WriteJUnit writes several runs (one per kubeconfig context) as one JUnit
// file, a test suite each.
func WriteJUnit(w io.Writer, reps ...*Report) error {
	var suites reporters.JUnitTestSuites
	for _, r := range reps {
		s := r.junitSuite()
		suites.Tests += s.Tests
		suites.Failures += s.Failures
		suites.Time += s.Time
		suites.TestSuites = append(suites.TestSuites, s)
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return err
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) junitSuite() reporters.JUnitTestSuite {
	c := r.counts()
	started := r.started()
	name := "kfp-doctor " + r.clean(r.Target)
	if r.Context != "" {
		name = "kfp-doctor context " + r.Context + " " + r.clean(r.Target)
	}
	suite := reporters.JUnitTestSuite{
		Name:      name,
		Package:   r.clean(r.Target),
		Tests:     len(r.Results),
		Skipped:   c.Skipped,
		Time:      r.Elapsed.Seconds(),
		Timestamp: started.UTC().Format("2006-01-02T15:04:05"),
	}
	props := []reporters.JUnitProperty{
		{Name: "tool", Value: r.Tool},
		{Name: "schema_version", Value: SchemaVersion},
		{Name: "target", Value: r.clean(r.Target)},
		{Name: "started_at", Value: started.UTC().Format(time.RFC3339)},
		{Name: "ok", Value: fmt.Sprint(r.OK())},
		{Name: "strict", Value: fmt.Sprint(r.Strict)},
		{Name: "warnings", Value: fmt.Sprint(c.Warnings)},
	}
	if r.Context != "" {
		props = append(props, reporters.JUnitProperty{Name: "context", Value: r.Context})
	}
	if r.Details != "" {
		props = append(props, reporters.JUnitProperty{Name: "details", Value: r.clean(r.Details)})
	}
	props = append(props, factProperties("", r.cleanFacts(r.MergedFacts()))...)
	suite.Properties = reporters.JUnitProperties{Properties: props}

	for _, res := range r.Results {
		tc := reporters.JUnitTestCase{Name: res.Probe + ": " + res.Title, Classname: "kfp-doctor", Time: res.Duration.Seconds()}
		text := r.clean(res.Message)
		detail := text
		if res.Hint != "" {
			detail += "\nhint: " + r.clean(res.Hint)
		}
		if res.Doc != "" {
			detail += "\ndoc: " + res.Doc
		}
		caseProps := []reporters.JUnitProperty{{Name: "status", Value: string(res.Status)}}
		if res.KFD != "" && res.Status != probe.Pass {
			caseProps = append(caseProps, reporters.JUnitProperty{Name: "kfd", Value: string(res.KFD)})
		}
		if res.Doc != "" {
			caseProps = append(caseProps, reporters.JUnitProperty{Name: "doc", Value: res.Doc})
		}
		caseProps = append(caseProps, factProperties("fact.", r.cleanFacts(res.Facts))...)
		tc.Properties = &reporters.JUnitProperties{Properties: caseProps}
		switch {
		case res.Status == probe.Fail, res.Status == probe.Warn && r.Strict:
			suite.Failures++
			tc.Status = junitFailed
			tc.Failure = &reporters.JUnitFailure{Message: label(res) + text, Type: string(res.KFD), Description: detail}
		case res.Status == probe.Skip:
			tc.Status = junitSkipped
			tc.Skipped = &reporters.JUnitSkipped{Message: text}
		case res.Status == probe.Warn:
			tc.Status = junitPassed
			tc.SystemOut = "WARNING " + label(res) + detail
		default:
			tc.Status = junitPassed
			tc.SystemOut = detail
		}
		suite.TestCases = append(suite.TestCases, tc)
	}
	return suite
}

// factProperties are facts as JUnit properties, in key order so the file
// is stable from run to run.
func factProperties(prefix string, facts map[string]string) []reporters.JUnitProperty {
	out := make([]reporters.JUnitProperty, 0, len(facts))
	for _, k := range slices.Sorted(maps.Keys(facts)) {
		out = append(out, reporters.JUnitProperty{Name: prefix + k, Value: facts[k]})
	}
	return out
}
