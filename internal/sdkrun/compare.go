package sdkrun

import (
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
