package verdict

import (
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
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

func TestCheckWords(t *testing.T) {
	sdk := func(inConstructor bool, creds, msg string) probe.Result {
		return probe.Result{Probe: "sdk", Status: probe.Pass, Message: msg, Facts: map[string]string{
			"healthz_in_constructor": map[bool]string{true: "true", false: "false"}[inConstructor], "credentials": creds, "host": "http://h:3000"}}
	}
	retry := (&sdkmodel.Call{HealthzInConstructor: true}).HealthzOnHTTPError()
	skip := (&sdkmodel.Call{}).HealthzOnHTTPError()
	healthz := func(msg, url string) probe.Result {
		return probe.Result{Probe: "healthz", Status: probe.Fail, Message: msg, Evidence: &probe.Evidence{Request: "GET " + url}}
	}
	rows := []struct {
		name    string
		results []probe.Result
		err     string
	}{
		{"the retry said where the constructor retries", []probe.Result{sdk(true, "none", "no Authorization header"), healthz("HTTP 503 ("+retry+")", "http://h:3000/apis/v2beta1/healthz")}, ""},
		{"the retry said where a namespace skips it", []probe.Result{sdk(false, "none", "no Authorization header"), healthz("HTTP 503 ("+retry+")", "http://h:3000/apis/v2beta1/healthz")}, "the model's constructor skips healthz"},
		{"the skip said where it retries", []probe.Result{sdk(true, "none", "no Authorization header"), healthz("HTTP 503 ("+skip+")", "http://h:3000/apis/v2beta1/healthz")}, "calls healthz"},
		{"no header said while a token is sent", []probe.Result{sdk(true, "existing-token", "no Authorization header")}, "sends an Authorization header: true"},
		{"another host asked", []probe.Result{sdk(true, "none", "no Authorization header"), healthz("refused", "http://other/apis/v2beta1/healthz")}, "but the model's client calls http://h:3000"},
		{"no model, nothing to hold", []probe.Result{healthz("HTTP 503 ("+retry+")", "http://x/apis/v2beta1/healthz")}, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := CheckWords(&report.Report{Results: r.results})
			switch {
			case r.err == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case r.err != "" && (err == nil || !strings.Contains(err.Error(), r.err)):
				t.Fatalf("got %v, want an error naming %q", err, r.err)
			}
		})
	}
}
