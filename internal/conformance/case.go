package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/conformance/client"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/conformance/verdict"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Outcome is one case's run, as far as it got.
type Outcome struct {
	// Steps say what the run did to build the client, for the case's log.
	Steps []string
	// Report is the doctor's; Doctor the same, one line per probe.
	Report *report.Report
	Doctor string
	// SDK is the real kfp.Client's outcome as the same client, or why it
	// did not run ("" when the run has no SDK).
	SDK string
}

// RunCase runs case c on e: the path's install variant and the case's
// cluster-side fault in, the client made real and the doctor run as it,
// then both reverted; the error is the case's failure — the run's, the
// report's against the expectation (verdict.Check), or, with sdk, the real
// kfp.Client's outcome against the doctor's verdict (sdkrun.Compare).
func RunCase(ctx context.Context, e *env.Env, c scenarios.Case, workdir string, sdk *sdkrun.Driver) (out *Outcome, err error) {
	sc := e.Scenario
	p, ok := sc.Path(c.Path)
	if !ok {
		return nil, fmt.Errorf("unknown path %q", c.Path)
	}
	var f scenarios.Fault
	if c.Fault != "" {
		if f, ok = sc.Fault(c.Fault); !ok {
			return nil, fmt.Errorf("unknown fault %q", c.Fault)
		}
	}
	cl, err := sc.ClientOf(c)
	if err != nil {
		return nil, err
	}
	out = &Outcome{}
	step := func(format string, args ...any) { out.Steps = append(out.Steps, fmt.Sprintf(format, args...)) }
	revertLater := func(what string, revert func(context.Context) error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if rerr := revert(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("reverting %s: %w", what, rerr))
		}
	}
	if p.Install != nil {
		undo, err := e.Inject(ctx, *p.Install)
		if err != nil {
			return out, fmt.Errorf("installing the path's variant %s: %w", p.Install.Name, err)
		}
		defer revertLater("the path's variant "+p.Install.Name, undo)
		step("install variant %s: %s", p.Install.Name, p.Install.Doc)
	}
	revert, err := e.Inject(ctx, f)
	if err != nil {
		return out, fmt.Errorf("injecting fault %s: %w", c.Fault, err)
	}
	defer revertLater("fault "+c.Fault, revert)
	if c.Fault != "" {
		step("fault %s: %s", f.Name, f.Doc)
	}
	res, err := client.Run(ctx, e, cl, workdir, step, sdk)
	if err != nil {
		return out, err
	}
	out.Report, out.Doctor = res.Report, verdict.Summary(res.Report)
	err = verdict.Check(res.Report, c.Expect)
	if res.SDK == nil {
		if res.SDKNotRun != "" {
			out.SDK = results.SDKNotRun + res.SDKNotRun
		}
		return out, err
	}
	a := sdkrun.Compare(res.SDK, res.Report)
	out.SDK = a.SDK
	if !a.Agree {
		err = errors.Join(err, fmt.Errorf("the real kfp.Client and the doctor disagree: %s\nSDK: %s\ndoctor: %s", a.Why, a.SDK, a.Doctor))
	}
	return out, err
}
