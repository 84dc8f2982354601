// Package report renders probe results for people (a tree with ✔ ‼ ✖) and for
// machines (JSON with a documented contract, JUnit XML for CI). Results reach
// here already redacted by the engine; the writers redact again on the way out
// so a secret cannot slip through a field added later.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Report is one run: what was checked, and what was found.
type Report struct {
	Target  string // "http://localhost:3000", shown in the header
	Details string // "namespace ns-1, token file …", no secrets
	Results []probe.Result
	Elapsed time.Duration
	Strict  bool
	Redact  *redact.Redactor
	// Tool is the doctor's own build ("v1.2.0", "devel (abc1234)"), shown in
	// -o json so a report says which doctor wrote it.
	Tool string
	// Context is the kubeconfig context the run diagnosed, when the doctor
	// ran for several (--context repeated, --all-contexts).
	Context string
	// Facts are the run's settled inputs as data (scenario, host and its
	// source, credentials kind …), set by whoever resolved them; the
	// probes' own facts are merged under them (Facts).
	Facts map[string]string
	// Started is when the run began; zero means Elapsed before the report
	// is written (the doctor writes it as soon as the run ends).
	Started time.Time
}

// SchemaVersion is the version of the -o json contract
// (docs/report.schema.json); it changes only when a field changes meaning or
// goes away.
const SchemaVersion = "1"

// OK reports whether the run passed (no failure; with Strict, no warning; and
// some probe reached a verdict).
func (r *Report) OK() bool { return r.Outcome() == probe.OutcomeOK }

// Outcome is the run's conclusion, which the CLI turns into its exit code.
func (r *Report) Outcome() probe.Outcome { return probe.Judge(r.Results, r.Strict) }

func (r *Report) clean(s string) string {
	if r.Redact != nil {
		return r.Redact.String(s)
	}
	return redact.Shapes(s)
}

// Counts is the summary line's numbers.
type Counts struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

func (r *Report) counts() Counts {
	var c Counts
	for _, res := range r.Results {
		switch res.Status {
		case probe.Pass:
			c.Passed++
		case probe.Warn:
			c.Warnings++
		case probe.Fail:
			c.Failed++
		case probe.Skip:
			c.Skipped++
		}
	}
	return c
}

// jsonResult is the contract of one result in -o json (see README).
type jsonResult struct {
	Probe      string          `json:"probe"`
	Title      string          `json:"title"`
	Status     probe.Status    `json:"status"`
	KFD        string          `json:"kfd,omitempty"`
	Message    string          `json:"message"`
	Hint       string          `json:"hint,omitempty"`
	Doc        string          `json:"doc,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Evidence   *probe.Evidence `json:"evidence,omitempty"`
	// Facts are the probe's findings as data next to its message (added in
	// schema_version 1 without changing any field: consumers that ignore
	// it are unaffected).
	Facts map[string]string `json:"facts,omitempty"`
}

type jsonReport struct {
	SchemaVersion string `json:"schema_version"`
	Tool          string `json:"tool,omitempty"`
	Context       string `json:"context,omitempty"`
	OK            bool   `json:"ok"`
	Target        string `json:"target"`
	Details       string `json:"details,omitempty"` // scenario, how the host was found, credentials used (no secrets)
	// Facts is Details as data: the run's facts and every probe's, merged
	// (the first to name a key wins).
	Facts     map[string]string `json:"facts,omitempty"`
	StartedAt string            `json:"started_at,omitempty"` // RFC 3339
	Summary   Counts            `json:"summary"`
	ElapsedMS int64             `json:"elapsed_ms"`
	Results   []jsonResult      `json:"results"`
}

// JSON writes the machine-readable report.
func (r *Report) JSON(w io.Writer) error {
	out := jsonReport{SchemaVersion: SchemaVersion, Tool: r.Tool, Context: r.Context, OK: r.OK(), Target: r.clean(r.Target), Details: r.clean(r.Details),
		Facts: r.cleanFacts(r.MergedFacts()), StartedAt: r.started().UTC().Format(time.RFC3339), Summary: r.counts(), ElapsedMS: r.Elapsed.Milliseconds(), Results: []jsonResult{}}
	for _, res := range r.Results {
		jr := jsonResult{
			Probe: res.Probe, Title: res.Title, Status: res.Status, Message: r.clean(res.Message),
			Hint: r.clean(res.Hint), Doc: res.Doc, DurationMS: res.Duration.Milliseconds(), Facts: r.cleanFacts(res.Facts),
		}
		if res.Status != probe.Pass {
			jr.KFD = string(res.KFD)
		}
		if res.Evidence != nil {
			ev := *res.Evidence
			ev.Request, ev.Body = r.clean(ev.Request), r.clean(ev.Body)
			jr.Evidence = &ev
		}
		out.Results = append(out.Results, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // hints hold <namespace>; this is not HTML
	return enc.Encode(out)
}

// MergedFacts are the run's facts and, under them, every probe's, the
// first to name a key winning (results are in report order: the sdk probe's
// host and credentials come before anything a later probe says).
func (r *Report) MergedFacts() map[string]string {
	out := map[string]string{}
	for k, v := range r.Facts {
		out[k] = v
	}
	for _, res := range r.Results {
		for k, v := range res.Facts {
			if _, set := out[k]; !set {
				out[k] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (r *Report) cleanFacts(f map[string]string) map[string]string {
	if len(f) == 0 {
		return nil
	}
	out := make(map[string]string, len(f))
	for k, v := range f {
		out[k] = r.clean(v)
	}
	return out
}

func (r *Report) started() time.Time {
	if !r.Started.IsZero() {
		return r.Started
	}
	return time.Now().Add(-r.Elapsed)
}

func label(res probe.Result) string {
	if res.KFD == "" || res.Status == probe.Pass {
		return ""
	}
	return "[" + string(res.KFD) + "] "
}

// Text writes the report for a person: one line per probe in a tree, with the
// hint and the doc link under every warning and failure, and a summary line.
func (r *Report) Text(w io.Writer, color bool) error {
	p := palette{on: color}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", p.bold("kfp-doctor →"), r.clean(r.Target))
	if r.Details != "" {
		fmt.Fprintf(&b, "│ %s\n", p.dim(r.clean(r.Details)))
	}
	for i, res := range r.Results {
		branch, stem := "├─", "│  "
		if i == len(r.Results)-1 {
			branch, stem = "└─", "   "
		}
		mark := p.mark(res.Status)
		line := fmt.Sprintf("%s %s %s", branch, mark, p.bold(res.Probe))
		if res.KFD != "" && res.Status != probe.Pass {
			line += " " + p.status(res.Status, "["+string(res.KFD)+"]")
		}
		fmt.Fprintf(&b, "%s %s\n", line, r.clean(res.Message))
		if res.Status == probe.Fail || res.Status == probe.Warn {
			if res.Hint != "" {
				fmt.Fprintf(&b, "%s   %s %s\n", stem, p.dim("hint:"), r.clean(res.Hint))
			}
			if res.Doc != "" {
				fmt.Fprintf(&b, "%s   %s %s\n", stem, p.dim("docs:"), res.Doc)
			}
		}
	}
	c := r.counts()
	verdict := p.status(probe.Pass, "OK")
	if !r.OK() {
		verdict = p.status(probe.Fail, "FAILED")
	}
	fmt.Fprintf(&b, "%s: %d passed, %d warnings, %d failed, %d skipped in %s\n",
		verdict, c.Passed, c.Warnings, c.Failed, c.Skipped, r.Elapsed.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

type palette struct{ on bool }

func (p palette) wrap(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
func (p palette) bold(s string) string { return p.wrap("1", s) }
func (p palette) dim(s string) string  { return p.wrap("2", s) }

func (p palette) status(st probe.Status, s string) string {
	switch st {
	case probe.Pass:
		return p.wrap("32", s)
	case probe.Warn:
		return p.wrap("33", s)
	case probe.Fail:
		return p.wrap("31", s)
	}
	return p.dim(s)
}

func (p palette) mark(st probe.Status) string {
	switch st {
	case probe.Pass:
		return p.status(st, "✔")
	case probe.Warn:
		return p.status(st, "‼")
	case probe.Fail:
		return p.status(st, "✖")
	}
	return p.status(st, "–")
}
