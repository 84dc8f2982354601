// Command report-summary turns the JUnit reports a run leaves in reports/
// into the Markdown of a GitHub step summary: one row per suite, then the
// failed cases with the first line of their failure.
//
//	go run ./hack/report-summary reports >> "$GITHUB_STEP_SUMMARY"
package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxReport bounds the read of one report: a suite's JUnit is a few MB.
const maxReport = 64 << 20

type testsuites struct {
	Suites []testsuite `xml:"testsuite"`
}

type testsuite struct {
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Disabled int        `xml:"disabled,attr"`
	Time     float64    `xml:"time,attr"`
	Cases    []testcase `xml:"testcase"`
}

type testcase struct {
	Name    string   `xml:"name,attr"`
	Failure *message `xml:"failure"`
	Error   *message `xml:"error"`
}

type message struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report-summary REPORTS_DIR")
		os.Exit(2)
	}
	if err := summarize(os.Stdout, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "report-summary:", err)
		os.Exit(1)
	}
}

// summarize writes the summary of every *.junit.xml and junit-*.xml in dir.
func summarize(w io.Writer, dir string) error {
	var files []string
	for _, pattern := range []string{"*.junit.xml", "junit-*.xml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	fmt.Fprintln(w, "## kfp-connect reports")
	fmt.Fprintln(w)
	if len(files) == 0 {
		fmt.Fprintf(w, "No JUnit reports in `%s`: the run stopped before any suite reported (see the job's log).\n", dir)
		return nil
	}
	var suites []testsuite
	for _, f := range files {
		s, err := read(f)
		if err != nil {
			return err
		}
		suites = append(suites, s...)
	}
	fmt.Fprintln(w, "| suite | tests | passed | failed | skipped | seconds |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	var failed []string
	for _, s := range suites {
		bad := s.Failures + s.Errors
		skipped := s.Skipped + s.Disabled
		mark := "✔"
		if bad > 0 {
			mark = "✖"
		}
		fmt.Fprintf(w, "| %s %s | %d | %d | %d | %d | %.1f |\n", mark, cell(s.Name), s.Tests, s.Tests-bad-skipped, bad, skipped, s.Time)
		for _, c := range s.Cases {
			m := c.Failure
			if m == nil {
				m = c.Error
			}
			if m != nil {
				failed = append(failed, fmt.Sprintf("- **%s** — %s", cell(c.Name), cell(firstLine(m))))
			}
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n### Failed (%d)\n\n%s\n", len(failed), strings.Join(failed, "\n"))
	}
	return nil
}

// read parses one report: a <testsuites> document or a lone <testsuite>.
func read(path string) ([]testsuite, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReport+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxReport {
		return nil, fmt.Errorf("%s is larger than %d MiB; not a JUnit report of this project", path, maxReport>>20)
	}
	var all testsuites
	if err := xml.Unmarshal(b, &all); err == nil && len(all.Suites) > 0 {
		return all.Suites, nil
	}
	var one testsuite
	if err := xml.Unmarshal(b, &one); err != nil {
		return nil, fmt.Errorf("%s is not a JUnit report: %w", path, err)
	}
	return []testsuite{one}, nil
}

func firstLine(m *message) string {
	s := strings.TrimSpace(m.Message)
	if s == "" {
		s = strings.TrimSpace(m.Text)
	}
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// cell keeps a value from breaking the Markdown table or list.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
