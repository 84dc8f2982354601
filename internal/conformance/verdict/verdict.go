// Package verdict holds a doctor's report to what a case expects: success,
// or the catalogue id named by the probe that must name it.
package verdict

import (
	"fmt"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Check compares the doctor's report with the expectation: a success must
// pass (and list experiments); a failure must be named, with the expected
// id, by the expected probe, and that probe must be the first failing one —
// the first broken link; a warning must come from the expected probe; and
// Also, when set, must be named by AlsoProbe as a warning or failure.
func Check(rep *report.Report, want scenarios.Expect) error {
	var first *probe.Result
	listed := false
	warned := false
	named := want.Also == ""
	for i, r := range rep.Results {
		if want.Also != "" && r.KFD == want.Also && r.Probe == want.AlsoProbe && (r.Status == probe.Warn || r.Status == probe.Fail) {
			named = true
		}
		if r.Status == probe.Fail && first == nil {
			first = &rep.Results[i]
		}
		if r.Probe == "list-experiments" && r.Status == probe.Pass {
			listed = true
		}
		if r.Status == probe.Warn && r.KFD == want.KFD && r.Probe == want.Probe {
			warned = true
		}
	}
	switch {
	case want.OK && (first != nil || !listed):
		return fmt.Errorf("expected the path to work, but %s\n%s", describe(first, "experiments were not listed"), Summary(rep))
	case want.OK && want.KFD != "" && !warned:
		return fmt.Errorf("expected a warning %s from %s, got none\n%s", want.KFD, want.Probe, Summary(rep))
	case !want.OK && first == nil:
		return fmt.Errorf("expected a failure %s from %s, but every probe passed\n%s", want.KFD, want.Probe, Summary(rep))
	case !want.OK && (first.KFD != want.KFD || first.Probe != want.Probe):
		return fmt.Errorf("expected %s from %s, got %s\n%s", want.KFD, want.Probe, describe(first, ""), Summary(rep))
	case !named:
		return fmt.Errorf("expected the report to name %s from %s too, but that probe did not warn or fail with it\n%s", want.Also, want.AlsoProbe, Summary(rep))
	case !want.OK && want.Naming != "" && !strings.Contains(first.Message, want.Naming):
		return fmt.Errorf("expected %s from %s to name %q, but it says %q\n%s", want.KFD, want.Probe, want.Naming, first.Message, Summary(rep))
	}
	return CheckWords(rep)
}

func describe(r *probe.Result, otherwise string) string {
	if r == nil {
		return otherwise
	}
	id := string(r.KFD)
	if id == "" {
		id = "no id"
	}
	return fmt.Sprintf("%s from probe %s: %s", id, r.Probe, r.Message)
}

// Summary is one line per probe, for spec output.
func Summary(rep *report.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "doctor → %s (%s)\n", rep.Target, rep.Details)
	for _, r := range rep.Results {
		id := ""
		if r.KFD != "" {
			id = " [" + string(r.KFD) + "]"
		}
		fmt.Fprintf(&b, "  %-4s %s%s %s\n", r.Status, r.Probe, id, r.Message)
	}
	return b.String()
}
