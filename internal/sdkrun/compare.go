package sdkrun

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// Agreement is the SDK's outcome held against the doctor's verdict on the
// same case.
type Agreement struct {
	// Agree: both succeeded, or both failed. A run of the driver that broke
	// is no verdict and never agrees.
	Agree bool
	// SDK and Doctor are each side on one line, for the report.
	SDK, Doctor string
	// Why says what disagrees, "" when they agree.
	Why string
}

// Compare holds what the real kfp.Client did against the doctor's report:
// the client got through (it constructed, listed and, where asked, created)
// exactly when the doctor found nothing failed. A hang is a failure, the one
// KFD024 predicts; when the doctor names another id for it, Why says so
// without making it a disagreement (the doctor stops waiting long before
// the SDK would).
func Compare(o *Outcome, rep *report.Report) Agreement {
	a := Agreement{SDK: o.String(), Doctor: doctorLine(rep)}
	if o.Result == Broken {
		a.Why = "no verdict of the SDK: " + o.Message
		return a
	}
	sdkOK, docOK := o.Result == Succeeded, rep.OK()
	a.Agree = sdkOK == docOK
	switch {
	case sdkOK && !docOK:
		a.Why = "the real kfp.Client got through, but the doctor reports a failure"
	case !sdkOK && docOK:
		a.Why = "the doctor reports no failure, but the real kfp.Client " + verb(o)
	case o.Result == Hung && !names(rep, kfd.NoAnswer):
		a.Why = fmt.Sprintf("the SDK hung (what %s predicts), and the doctor names %s", kfd.NoAnswer, strings.Join(failedIDs(rep), ", "))
	}
	return a
}

func verb(o *Outcome) string {
	if o.Result == Hung {
		return "hung at " + o.Stage
	}
	return "raised at " + o.Stage
}

// doctorLine is the doctor's verdict on one line: OK, or the failing probes
// with their ids.
func doctorLine(rep *report.Report) string {
	if rep.OK() {
		var warned []string
		for _, r := range rep.Results {
			if r.Status == probe.Warn && r.KFD != "" {
				warned = append(warned, string(r.KFD))
			}
		}
		if len(warned) > 0 {
			return "OK (warns " + strings.Join(warned, ", ") + ")"
		}
		return "OK"
	}
	var failed []string
	for _, r := range rep.Results {
		if r.Status == probe.Fail {
			failed = append(failed, fmt.Sprintf("%s [%s]", r.Probe, r.KFD))
		}
	}
	if len(failed) == 0 {
		return "FAILED (nothing checked)"
	}
	return "FAILED: " + strings.Join(failed, "; ")
}

func failedIDs(rep *report.Report) []string {
	var ids []string
	for _, r := range rep.Results {
		if r.Status == probe.Fail && r.KFD != "" {
			ids = append(ids, string(r.KFD))
		}
	}
	return ids
}

func names(rep *report.Report, id kfd.ID) bool {
	for _, r := range rep.Results {
		if r.Status == probe.Fail && r.KFD == id {
			return true
		}
	}
	return false
}

// Finding is one probe's conclusion, as two reports of one call are
// compared: its id, status, catalogue id and message.
type Finding struct {
	Probe, Status, KFD, Message string
}

// The parts of a message that differ between two runs of one call: the
// write check's experiment, and durations (a token's "expires in 59m58s").
var (
	randomNames = regexp.MustCompile(`kfp-doctor-check-[0-9a-f]+`)
	durations   = regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?(h|m|s|ms|µs)\b`)
)

func steady(msg string) string {
	return durations.ReplaceAllString(randomNames.ReplaceAllString(msg, "kfp-doctor-check-…"), "…")
}

// Findings reads the results of a -o json report (kfp_doctor's Report.json).
func Findings(results []map[string]any) []Finding {
	out := make([]Finding, 0, len(results))
	for _, r := range results {
		s := func(k string) string { v, _ := r[k].(string); return v }
		out = append(out, Finding{Probe: s("probe"), Status: s("status"), KFD: s("kfd"), Message: steady(s("message"))})
	}
	return out
}

// FindingsOf is a report's findings, as Findings reads them from JSON.
func FindingsOf(rep *report.Report) []Finding {
	out := make([]Finding, 0, len(rep.Results))
	for _, r := range rep.Results {
		f := Finding{Probe: r.Probe, Status: string(r.Status), Message: steady(rep.Redact.String(r.Message))}
		if r.Status != probe.Pass {
			f.KFD = string(r.KFD)
		}
		out = append(out, f)
	}
	return out
}

// SameDiagnosis holds kfp_doctor.diagnose's report on the client against
// the doctor's on the same call and says how they differ ("" when they do
// not). exact compares every probe's message too: for two runs that see the
// same call, files and server. Otherwise only what each probe concluded —
// its status and catalogue id — for the probes both ran, and the verdict:
// for runs that cannot see quite the same (the doctor logged in itself
// where the client holds the session; a notebook's constructor stored its
// namespace in context.json and its token is bound to its own pod).
func SameDiagnosis(d *Diagnosis, rep *report.Report, exact bool) (string, error) {
	if d.Error != "" {
		return "", fmt.Errorf("kfp_doctor.diagnose did not run: %s", d.Error)
	}
	var got struct {
		OK      bool             `json:"ok"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(d.JSON, &got); err != nil {
		return "", fmt.Errorf("kfp_doctor.diagnose's report: %w", err)
	}
	if got.OK != rep.OK() {
		return fmt.Sprintf("diagnose(client) says ok=%t, the doctor ok=%t", got.OK, rep.OK()), nil
	}
	mine, theirs := Findings(got.Results), FindingsOf(rep)
	if exact {
		if len(mine) != len(theirs) {
			return fmt.Sprintf("diagnose(client) ran %d probes, the doctor %d", len(mine), len(theirs)), nil
		}
		for i := range mine {
			if mine[i] != theirs[i] {
				return fmt.Sprintf("probe %s: diagnose(client) %+v, the doctor %+v", theirs[i].Probe, mine[i], theirs[i]), nil
			}
		}
		return "", nil
	}
	by := map[string]Finding{}
	for _, f := range theirs {
		by[f.Probe] = f
	}
	for _, f := range mine {
		t, ok := by[f.Probe]
		if ok && (t.Status != f.Status || t.KFD != f.KFD) {
			return fmt.Sprintf("probe %s: diagnose(client) %s %s, the doctor %s %s", f.Probe, f.Status, f.KFD, t.Status, t.KFD), nil
		}
	}
	return "", nil
}
