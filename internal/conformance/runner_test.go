package conformance

import (
	"context"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/scenarios"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
)

func TestProgressLine(t *testing.T) {
	failed := &results.CaseResult{Scenario: "s", Name: "p × f", Status: results.Failed, Reason: "expected KFD009, got KFD001\ndoctor → …", Duration: 1234e6}
	if got, want := ProgressLine(Event{Index: 2, Total: 9, Case: failed}), "[2/9] ✖ s: p × f → failed (1.23s): expected KFD009, got KFD001"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	skipped := &results.CaseResult{Scenario: "s", Name: "p", KFD: kfd.RBACDenied, Status: results.Skipped, Reason: plan.DisruptiveSkip}
	if got := ProgressLine(Event{Index: 1, Total: 9, Case: skipped}); got != "[1/9] – s: p → skipped: "+plan.DisruptiveSkip {
		t.Errorf("got %q", got)
	}
}

// skipAllTarget prepares every scenario as one that does not apply, as an
// existing cluster of the other mode does, and records what it was asked.
type skipAllTarget struct {
	prepared []string
	closed   int
}

func (t *skipAllTarget) Name() string { return "fake" }

func (t *skipAllTarget) Prepare(_ context.Context, sc *scenarios.Scenario, _ env.Owner) (Prepared, error) {
	t.prepared = append(t.prepared, sc.Name)
	return Prepared{Skip: "not this mode", Notes: []string{"prepared " + sc.Name}}, nil
}

func (t *skipAllTarget) Close(context.Context, env.Owner) ([]string, error) {
	t.closed++
	return []string{"Pod x/y"}, nil
}

// Run prepares each scenario with a runnable case once, skips every case of
// a scenario that does not apply with the scenario's reason, reports each
// case once in order, and closes the target once.
func TestRunSkipsScenariosThatDoNotApply(t *testing.T) {
	plans, err := plan.Make(all.Scenarios(), plan.Selection{}, plan.Options{Disruptive: true})
	if err != nil {
		t.Fatal(err)
	}
	target := &skipAllTarget{}
	var events []Event
	r := &Runner{Target: target, Plans: plans, Owner: env.Owner{RunID: "r"}, Progress: func(ev Event) { events = append(events, ev) }}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(target.prepared) != len(plans) || target.closed != 1 {
		t.Errorf("prepared %v, closed %d times: want each scenario once and one close", target.prepared, target.closed)
	}
	total := 0
	for _, sp := range plans {
		total += len(sp.Cases)
	}
	if len(res.Cases) != total || res.Count(results.Skipped) != total {
		t.Fatalf("%d cases, %d skipped: want all %d skipped", len(res.Cases), res.Count(results.Skipped), total)
	}
	for _, c := range res.Cases {
		if c.Reason != "not this mode" {
			t.Errorf("%s skipped with %q, want the scenario's reason", c.FullName(), c.Reason)
		}
	}
	last := 0
	for _, ev := range events {
		if ev.Case != nil {
			if ev.Index != last+1 || ev.Total != total {
				t.Errorf("event %d/%d after %d", ev.Index, ev.Total, last)
			}
			last = ev.Index
		} else if !strings.HasPrefix(ev.Note, "preparing ") && !strings.HasPrefix(ev.Note, "prepared ") {
			t.Errorf("note %q", ev.Note)
		}
	}
	if strings.Join(res.Cleanup, ",") != "Pod x/y" || res.Duration <= 0 {
		t.Errorf("clean-up %v, duration %v", res.Cleanup, res.Duration)
	}
}
