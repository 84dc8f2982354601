package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// JUnit statuses, as Ginkgo's own JUnit report spells a spec's state.
const (
	junitPassed  = "passed"
	junitFailed  = "failed"
	junitSkipped = "skipped"
)

// JUnit writes the run as one test suite with a test case per probe, in
// the JUnit XML Ginkgo writes (the schema CI systems already read from the
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
	var suites JUnitTestSuites
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

func (r *Report) junitSuite() JUnitTestSuite {
	c := r.counts()
	started := r.started()
	name := "kfp-doctor " + r.clean(r.Target)
	if r.Context != "" {
		name = "kfp-doctor context " + r.Context + " " + r.clean(r.Target)
	}
	suite := JUnitTestSuite{
		Name:      name,
		Package:   r.clean(r.Target),
		Tests:     len(r.Results),
		Skipped:   c.Skipped,
		Time:      r.Elapsed.Seconds(),
		Timestamp: started.UTC().Format("2006-01-02T15:04:05"),
	}
	props := []JUnitProperty{
		{Name: "tool", Value: r.Tool},
		{Name: "schema_version", Value: SchemaVersion},
		{Name: "target", Value: r.clean(r.Target)},
		{Name: "started_at", Value: started.UTC().Format(time.RFC3339)},
		{Name: "ok", Value: fmt.Sprint(r.OK())},
		{Name: "strict", Value: fmt.Sprint(r.Strict)},
		{Name: "warnings", Value: fmt.Sprint(c.Warnings)},
	}
	if r.Context != "" {
		props = append(props, JUnitProperty{Name: "context", Value: r.Context})
	}
	if r.Details != "" {
		props = append(props, JUnitProperty{Name: "details", Value: r.clean(r.Details)})
	}
	props = append(props, factProperties("", r.cleanFacts(r.MergedFacts()))...)
	suite.Properties = JUnitProperties{Properties: props}

	for _, res := range r.Results {
		tc := JUnitTestCase{Name: res.Probe + ": " + res.Title, Classname: "kfp-doctor", Time: res.Duration.Seconds()}
		text := r.clean(res.Message)
		detail := text
		if res.Hint != "" {
			detail += "\nhint: " + r.clean(res.Hint)
		}
		if res.Doc != "" {
			detail += "\ndoc: " + res.Doc
		}
		caseProps := []JUnitProperty{{Name: "status", Value: string(res.Status)}}
		if res.KFD != "" && res.Status != probe.Pass {
			caseProps = append(caseProps, JUnitProperty{Name: "kfd", Value: string(res.KFD)})
		}
		if res.Doc != "" {
			caseProps = append(caseProps, JUnitProperty{Name: "doc", Value: res.Doc})
		}
		caseProps = append(caseProps, factProperties("fact.", r.cleanFacts(res.Facts))...)
		tc.Properties = &JUnitProperties{Properties: caseProps}
		switch {
		case res.Status == probe.Fail, res.Status == probe.Warn && r.Strict:
			suite.Failures++
			tc.Status = junitFailed
			tc.Failure = &JUnitFailure{Message: label(res) + text, Type: string(res.KFD), Description: detail}
		case res.Status == probe.Skip:
			tc.Status = junitSkipped
			tc.Skipped = &JUnitSkipped{Message: text}
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
func factProperties(prefix string, facts map[string]string) []JUnitProperty {
	out := make([]JUnitProperty, 0, len(facts))
	for _, k := range slices.Sorted(maps.Keys(facts)) {
		out = append(out, JUnitProperty{Name: prefix + k, Value: facts[k]})
	}
	return out
}

// The JUnit XML of Ginkgo's reporters.JUnitTestSuites, element for element
// and attribute for attribute (a test decodes our output with Ginkgo's own
// types). Ginkgo's types are not used here: that package links
// golang.org/x/tools/go/packages, go/types and a semver parser, whose
// package init costs kfp-doctor about 1.5 ms on every start, JUnit or not.
type (
	JUnitTestSuites struct {
		XMLName    xml.Name         `xml:"testsuites"`
		Tests      int              `xml:"tests,attr"`
		Disabled   int              `xml:"disabled,attr"`
		Errors     int              `xml:"errors,attr"`
		Failures   int              `xml:"failures,attr"`
		Time       float64          `xml:"time,attr"`
		TestSuites []JUnitTestSuite `xml:"testsuite"`
	}
	JUnitTestSuite struct {
		Name       string          `xml:"name,attr"`
		Package    string          `xml:"package,attr"`
		Tests      int             `xml:"tests,attr"`
		Disabled   int             `xml:"disabled,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Errors     int             `xml:"errors,attr"`
		Failures   int             `xml:"failures,attr"`
		Time       float64         `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr"`
		Properties JUnitProperties `xml:"properties"`
		TestCases  []JUnitTestCase `xml:"testcase"`
	}
	JUnitProperties struct {
		Properties []JUnitProperty `xml:"property"`
	}
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	JUnitTestCase struct {
		Name       string           `xml:"name,attr"`
		Classname  string           `xml:"classname,attr"`
		Status     string           `xml:"status,attr"`
		Time       float64          `xml:"time,attr"`
		Skipped    *JUnitSkipped    `xml:"skipped,omitempty"`
		Failure    *JUnitFailure    `xml:"failure,omitempty"`
		SystemOut  string           `xml:"system-out,omitempty"`
		Properties *JUnitProperties `xml:"properties,omitempty"`
	}
	JUnitSkipped struct {
		Message string `xml:"message,attr"`
	}
	JUnitFailure struct {
		Message     string `xml:"message,attr"`
		Type        string `xml:"type,attr"`
		Description string `xml:",chardata"`
	}
)
