package report

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

type none struct{}

func run(t *testing.T, ctx context.Context, ps ...probe.Probe[none]) []probe.Result {
	t.Helper()
	r, err := probe.NewRunner(ps)
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(ctx, none{})
}

func constant(id string, res probe.Result) probe.Probe[none] {
	return probe.Probe[none]{ID: id, Title: id, Run: func(context.Context, none) probe.Result { return res }}
}

// Every format says the same about a run: an interrupted run that checked
// nothing fails with KFD040 in all three (exit 1: not the configuration).
func TestNothingCheckedFailsInEveryFormat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := &Report{Target: "http://h", Results: run(t, ctx, constant("a", probe.Passf("never")))}
	if rep.OK() || rep.Outcome() != probe.OutcomeFailed {
		t.Fatalf("outcome %v, OK %t", rep.Outcome(), rep.OK())
	}
	for format, want := range map[string]string{"text": "FAILED: 0 passed, 0 warnings, 1 failed, 1 skipped", "json": `"ok": false`, "junit": `failures="1"`} {
		var b bytes.Buffer
		switch format {
		case "text":
			_ = rep.Text(&b, false)
		case "json":
			_ = rep.JSON(&b)
		default:
			_ = rep.JUnit(&b)
		}
		if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), string(kfd.NoVerdict)) {
			t.Errorf("%s lacks %q or KFD040:\n%s", format, want, b.String())
		}
	}
}

// A registered secret in the target, the details, a message or the evidence
// is masked in every format, also in its base64 form.
func TestSecretsMaskedInEveryFormat(t *testing.T) {
	const canary = "Zq9reportCanaryValue"
	var red redact.Redactor
	red.Add(canary)
	results := run(t, context.Background(), constant("p", probe.Result{Status: probe.Fail, KFD: kfd.ServerError, Message: "echo " + canary,
		Evidence: &probe.Evidence{Request: "GET http://h/?t=" + canary, Body: "body WnE5cmVwb3J0Q2FuYXJ5VmFsdWU= " + canary}}))
	rep := &Report{Target: "http://h/" + canary, Details: "details " + canary, Results: results, Redact: &red}
	for _, write := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return rep.Text(b, false) },
		func(b *bytes.Buffer) error { return rep.JSON(b) },
		func(b *bytes.Buffer) error { return rep.JUnit(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "Zq9") || strings.Contains(b.String(), "WnE5cmVwb3J0") {
			t.Fatalf("canary leaked:\n%s", b.String())
		}
	}
}
