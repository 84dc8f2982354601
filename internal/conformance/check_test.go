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
	warned := &report.Report{Results: []probe.Result{
		{Probe: "login-helper", Status: probe.Warn, KFD: kfd.LoginHelper},
		{Probe: "list-experiments", Status: probe.Pass},
	}}
	rows := []struct {
		name string
		rep  *report.Report
		want scenarios.Expect
		err  string // "" for a match
	}{
		{"the failure and the explanation", withUnsent, scenarios.Fails("list-experiments", kfd.NoIdentity).AndNames("unsent-token", kfd.HostWithoutCredentials), ""},
		{"the explanation missing", plain, scenarios.Fails("list-experiments", kfd.NoIdentity).AndNames("unsent-token", kfd.HostWithoutCredentials), "name KFD036 from unsent-token too"},
		{"the explanation from another probe", withUnsent, scenarios.Fails("list-experiments", kfd.NoIdentity).AndNames("sdk", kfd.HostWithoutCredentials), "name KFD036 from sdk too"},
		{"another first failure", withUnsent, scenarios.Fails("list-experiments", kfd.RBACDenied), "expected KFD009"},
		{"the right id from another probe", withUnsent, scenarios.Fails("healthz", kfd.NoIdentity), "expected KFD001 from healthz, got KFD001 from probe list-experiments"},
		{"a warning from its probe", warned, scenarios.Warns("login-helper", kfd.LoginHelper), ""},
		{"a warning from another probe", warned, scenarios.Warns("login-session", kfd.LoginHelper), "expected a warning KFD032 from login-session"},
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
