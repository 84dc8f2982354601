// Package results is a conformance run's outcome — a status, a reason and
// the doctor's report per case — and its three renderings: JUnit for CI,
// JSON for tools, one HTML page for people.
package results

import (
	"slices"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// Status is a case's outcome.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// SDKNotRun starts CaseResult.SDK when the real client did not run.
const SDKNotRun = "not run: "

// CaseResult is one case's outcome, as the reports show it.
type CaseResult struct {
	Scenario string `json:"scenario"`
	Path     string `json:"path"`
	Fault    string `json:"fault,omitempty"`
	Name     string `json:"name"`
	// Expect says what the case must yield; KFD and Also are its ids,
	// Probe and AlsoProbe the probes that must name them.
	Expect     string        `json:"expect"`
	Probe      string        `json:"probe,omitempty"`
	KFD        kfd.ID        `json:"kfd,omitempty"`
	AlsoProbe  string        `json:"also_probe,omitempty"`
	Also       kfd.ID        `json:"also,omitempty"`
	Disruptive bool          `json:"disruptive"`
	Status     Status        `json:"status"`
	Reason     string        `json:"reason,omitempty"` // why it was skipped or failed
	Duration   time.Duration `json:"duration_ns"`
	Steps      []string      `json:"steps,omitempty"`
	Doctor     string        `json:"doctor,omitempty"` // the doctor's report, one line per probe
	SDK        string        `json:"sdk,omitempty"`    // the real kfp.Client's outcome as the same client, or why it did not run
}

// FullName is "scenario: path × fault".
func (r CaseResult) FullName() string { return r.Scenario + ": " + r.Name }

// Results is a run's outcome.
type Results struct {
	RunID      string        `json:"run_id"`
	Provider   string        `json:"provider"`
	Disruptive bool          `json:"disruptive"`
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Cases      []CaseResult  `json:"cases"`
	// Cleanup lists what the run created and removed; CleanupError says
	// what it could not remove.
	Cleanup      []string `json:"cleanup,omitempty"`
	CleanupError string   `json:"cleanup_error,omitempty"`
}

// Count is how many cases ended with s.
func (r *Results) Count(s Status) int {
	n := 0
	for _, c := range r.Cases {
		if c.Status == s {
			n++
		}
	}
	return n
}

// OK is true when no case failed and the clean-up left nothing.
func (r *Results) OK() bool { return r.Count(Failed) == 0 && r.CleanupError == "" }

// Merge is one run's outcome from parts that ran side by side (the Ginkgo
// suite's parallel processes, each on clusters of its own): the cases in
// the order of scenarios (by name; a part's own order within a scenario),
// the clean-ups joined, started at the earliest start and lasting until the
// last part ended. The parts' run ids are joined: each labelled its own
// objects.
func Merge(scenarios []string, parts ...*Results) *Results {
	out := &Results{}
	rank := map[string]int{}
	for i, s := range scenarios {
		rank[s] = i
	}
	var ids, cleanupErrs []string
	var end time.Time
	for _, p := range parts {
		if p == nil {
			continue
		}
		if out.Started.IsZero() || p.Started.Before(out.Started) {
			out.Started = p.Started
		}
		if e := p.Started.Add(p.Duration); e.After(end) {
			end = e
		}
		out.Provider, out.Disruptive = p.Provider, out.Disruptive || p.Disruptive
		ids = append(ids, p.RunID)
		out.Cases = append(out.Cases, p.Cases...)
		out.Cleanup = append(out.Cleanup, p.Cleanup...)
		if p.CleanupError != "" {
			cleanupErrs = append(cleanupErrs, p.CleanupError)
		}
	}
	slices.SortStableFunc(out.Cases, func(a, b CaseResult) int { return rank[a.Scenario] - rank[b.Scenario] })
	out.RunID, out.CleanupError = strings.Join(ids, ","), strings.Join(cleanupErrs, "; ")
	out.Duration = end.Sub(out.Started)
	return out
}
