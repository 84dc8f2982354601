package results

import (
	"slices"
	"testing"
	"time"
)

// Two processes' parts are one run: the scenarios in the plan's order
// whichever process ran them, the clean-ups and failures of both, the wall
// time from the first start to the last end.
func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	one := &Results{RunID: "a", Provider: "kwok", Started: t0.Add(time.Second), Duration: 10 * time.Second,
		Cases:   []CaseResult{{Scenario: "multi-user/in-cluster", Name: "x"}, {Scenario: "multi-user/in-cluster", Name: "y"}},
		Cleanup: []string{"Namespace n-1"}}
	two := &Results{RunID: "b", Provider: "kwok", Started: t0, Duration: 30 * time.Second,
		Cases:        []CaseResult{{Scenario: "standalone/out-of-cluster", Name: "z"}, {Scenario: "standalone/in-cluster", Name: "w"}},
		CleanupError: "Pod p-1 left"}
	got := Merge([]string{"standalone/in-cluster", "standalone/out-of-cluster", "multi-user/in-cluster"}, one, nil, two)
	var names []string
	for _, c := range got.Cases {
		names = append(names, c.Name)
	}
	if want := []string{"w", "z", "x", "y"}; !slices.Equal(names, want) {
		t.Fatalf("cases %v, want %v", names, want)
	}
	if !got.Started.Equal(t0) || got.Duration != 30*time.Second || got.RunID != "a,b" || got.Provider != "kwok" {
		t.Fatalf("%+v", got)
	}
	if got.CleanupError != "Pod p-1 left" || len(got.Cleanup) != 1 || got.OK() {
		t.Fatalf("clean-up: %q %v", got.CleanupError, got.Cleanup)
	}
}
