package results

import (
	_ "embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
)

// The report files WriteReports writes in its directory.
const (
	JUnitFile = "conformance.junit.xml"
	JSONFile  = "conformance.json"
	HTMLFile  = "conformance.html"
)

// WriteReports writes the run's JUnit (for CI), JSON (for tools) and a
// self-contained one-page HTML summary (for people) into dir.
func WriteReports(dir string, res *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	junit, err := xml.MarshalIndent(JUnit(res), "", "  ")
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	var page strings.Builder
	if err := summaryPage.Execute(&page, htmlModel(res)); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		JUnitFile: append([]byte(xml.Header), junit...),
		JSONFile:  append(js, '\n'),
		HTMLFile:  []byte(page.String()),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing the report %s: %w", name, err)
		}
	}
	return nil
}

// JUnit is the run in Ginkgo's JUnit types: a test suite per scenario, a
// test case per case, named as --test matches them.
func JUnit(res *Results) reporters.JUnitTestSuites {
	out := reporters.JUnitTestSuites{Time: res.Duration.Seconds()}
	index := map[string]int{}
	for _, c := range res.Cases {
		i, ok := index[c.Scenario]
		if !ok {
			i = len(out.TestSuites)
			index[c.Scenario] = i
			out.TestSuites = append(out.TestSuites, reporters.JUnitTestSuite{
				Name: c.Scenario, Package: "kfp-connect conformance", Timestamp: res.Started.UTC().Format("2006-01-02T15:04:05"),
				Properties: reporters.JUnitProperties{Properties: []reporters.JUnitProperty{
					{Name: "Provider", Value: res.Provider}, {Name: "RunID", Value: res.RunID},
					{Name: "Disruptive", Value: fmt.Sprint(res.Disruptive)},
				}},
			})
		}
		s := &out.TestSuites[i]
		tc := reporters.JUnitTestCase{
			Name: c.Name + " → " + c.Expect, Classname: c.Scenario, Status: string(c.Status),
			Time: c.Duration.Seconds(), SystemOut: strings.Join(c.Steps, "\n") + "\n" + c.Doctor,
		}
		if c.SDK != "" {
			tc.SystemOut += "real kfp.Client: " + c.SDK + "\n"
		}
		s.Tests++
		out.Tests++
		switch c.Status {
		case Failed:
			tc.Failure = &reporters.JUnitFailure{Message: firstLine(c.Reason), Type: "failed", Description: c.Reason}
			s.Failures++
			out.Failures++
		case Skipped:
			tc.Skipped = &reporters.JUnitSkipped{Message: c.Reason}
			s.Skipped++
			out.Disabled++
		}
		s.Time += c.Duration.Seconds()
		s.TestCases = append(s.TestCases, tc)
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

//go:embed summary.html.tmpl
var summaryTemplate string

var summaryPage = template.Must(template.New("summary").Parse(summaryTemplate))

type htmlCell struct {
	Mark, Class, KFD, Reason string
	// SDK is the real kfp.Client's outcome where it ran; SDKNote why not.
	SDK, SDKNote string
}

type htmlTable struct {
	Scenario string
	Faults   []string // column heads; "" is no fault
	Rows     []htmlRow
	Failures []CaseResult
	Skips    []htmlSkip
}

type htmlRow struct {
	Path  string
	Cells []*htmlCell // nil where no case is declared
}

type htmlSkip struct {
	Reason string
	Cases  []string
}

type htmlPage struct {
	*Results
	Passed, Failed, Skipped int
	Took                    string
	Tables                  []htmlTable
}

// htmlModel lays each scenario out as path × fault.
func htmlModel(res *Results) htmlPage {
	page := htmlPage{Results: res, Passed: res.Count(Passed), Failed: res.Count(Failed), Skipped: res.Count(Skipped),
		Took: res.Duration.Round(100 * time.Millisecond).String()}
	var order []string
	by := map[string][]CaseResult{}
	for _, c := range res.Cases {
		if _, ok := by[c.Scenario]; !ok {
			order = append(order, c.Scenario)
		}
		by[c.Scenario] = append(by[c.Scenario], c)
	}
	for _, name := range order {
		cases := by[name]
		t := htmlTable{Scenario: name, Faults: []string{""}}
		var paths []string
		cells := map[[2]string]*htmlCell{}
		skips := map[string][]string{}
		for _, c := range cases {
			if !slices.Contains(paths, c.Path) {
				paths = append(paths, c.Path)
			}
			if !slices.Contains(t.Faults, c.Fault) {
				t.Faults = append(t.Faults, c.Fault)
			}
			cell := &htmlCell{KFD: string(c.KFD), Reason: c.Reason, SDK: c.SDK}
			if strings.HasPrefix(c.SDK, SDKNotRun) {
				cell.SDK, cell.SDKNote = "", "SDK "+c.SDK
			}
			switch c.Status {
			case Passed:
				cell.Mark, cell.Class = "✔", "pass"
			case Failed:
				cell.Mark, cell.Class = "✖", "fail"
				t.Failures = append(t.Failures, c)
			default:
				cell.Mark, cell.Class = "skipped", "skip"
				skips[c.Reason] = append(skips[c.Reason], c.Name)
			}
			if c.Also != "" {
				cell.KFD += " + " + string(c.Also)
			}
			cells[[2]string{c.Path, c.Fault}] = cell
		}
		for _, p := range paths {
			row := htmlRow{Path: p}
			for _, f := range t.Faults {
				row.Cells = append(row.Cells, cells[[2]string{p, f}])
			}
			t.Rows = append(t.Rows, row)
		}
		for reason, names := range skips {
			t.Skips = append(t.Skips, htmlSkip{Reason: reason, Cases: names})
		}
		sort.Slice(t.Skips, func(i, j int) bool { return t.Skips[i].Reason < t.Skips[j].Reason })
		page.Tables = append(page.Tables, t)
	}
	return page
}
