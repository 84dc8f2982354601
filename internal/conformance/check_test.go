package conformance

import (
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

func TestCheck(t *testing.T) {
	withUnsent := &report.Report{Results: []probe.Result{
		{Probe: "sdk", Status: probe.Pass},
		{Probe: "list-experiments", Status: probe.Fail, KFD: kfd.NoIdentity},
		{Probe: "unsent-token", Status: probe.Warn, KFD: kfd.HostWithoutCredentials},
	}}
	plain := &report.Report{Results: []probe.Result{{Probe: "list-experiments", Status: probe.Fail, KFD: kfd.NoIdentity}}}
	listed := &report.Report{Results: []probe.Result{{Probe: "list-experiments", Status: probe.Pass}}}
	rows := []struct {
		name string
		rep  *report.Report
		want scenarios.Expect
		err  string // "" for a match
	}{
		{"the failure and the explanation", withUnsent, scenarios.Fails(kfd.NoIdentity).AndNames(kfd.HostWithoutCredentials), ""},
		{"the explanation missing", plain, scenarios.Fails(kfd.NoIdentity).AndNames(kfd.HostWithoutCredentials), "name KFD036 too"},
		{"another first failure", withUnsent, scenarios.Fails(kfd.RBACDenied), "expected KFD009"},
		{"a success", listed, scenarios.Succeeds, ""},
		{"a success expected, a failure got", plain, scenarios.Succeeds, "expected the path to work"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := Check(r.rep, r.want)
			switch {
			case r.err == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case r.err != "" && (err == nil || !strings.Contains(err.Error(), r.err)):
				t.Fatalf("got %v, want an error naming %q", err, r.err)
			}
		})
	}
}
