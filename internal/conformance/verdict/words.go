package verdict

import (
	"fmt"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// CheckWords holds the words of a report that predict what kfp.Client(...)
// does to the model they must come from (internal/sdkmodel), as the sdk
// probe's facts record the model's choices for this run: whether the
// constructor retries healthz, where the calls go, and whether an
// Authorization header is sent. Every case of the matrix is held to it, so
// a message cannot drift from the model again.
func CheckWords(rep *report.Report) error {
	var facts map[string]string
	for _, r := range rep.Results {
		if r.Probe == "sdk" && r.Facts != nil {
			facts = r.Facts
		}
	}
	if facts == nil {
		return nil // no model of the call in this run: nothing to hold the words to
	}
	var problems []string
	say := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Retries: the sentence of the model's own choice, never the other's,
	// nor the hedge for an unmodelled call.
	inConstructor := facts["healthz_in_constructor"] == "true"
	right := (&sdkmodel.Call{HealthzInConstructor: inConstructor}).HealthzOnHTTPError()
	wrong := []string{(&sdkmodel.Call{HealthzInConstructor: !inConstructor}).HealthzOnHTTPError(), (*sdkmodel.Call)(nil).HealthzOnHTTPError()}
	for _, r := range rep.Results {
		for _, w := range wrong {
			if strings.Contains(r.Message, w) {
				say("%s says %q, but the model's constructor %s healthz (%s)", r.Probe, w, map[bool]string{true: "calls", false: "skips"}[inConstructor], right)
			}
		}
	}

	// The header: "no Authorization header" exactly when the model sends
	// none (no credentials, no Authorization from context.json).
	for _, r := range rep.Results {
		if r.Probe != "sdk" {
			continue
		}
		sends := facts["credentials"] != string(sdkmodel.AuthNone) || strings.EqualFold(facts["header_name"], "Authorization")
		if says := strings.Contains(r.Message, "no Authorization header"); says == sends {
			say("sdk says %q, but the model sends an Authorization header: %v (credentials %s, header %q)", r.Message, sends, facts["credentials"], facts["header_name"])
		}
	}

	// The call: KFP's API is asked where the model's client calls it.
	if host := facts["host"]; host != "" {
		for _, r := range rep.Results {
			if (r.Probe != "healthz" && r.Probe != "list-experiments") || r.Evidence == nil || r.Status == probe.Skip {
				continue
			}
			_, url, _ := strings.Cut(r.Evidence.Request, " ")
			if url != "" && !strings.HasPrefix(url, strings.TrimRight(host, "/")) {
				say("%s asked %s, but the model's client calls %s", r.Probe, url, host)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the doctor's words disagree with the SDK model:\n  %s\n%s", strings.Join(problems, "\n  "), Summary(rep))
	}
	return nil
}
