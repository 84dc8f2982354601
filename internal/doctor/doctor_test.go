package doctor

import (
	"context"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// --timeout bounds what the user waits, counted from when the command
// started (Seams.Started), not from when the probes begin: a command that
// spent 700 ms starting has 300 ms of a 1 s timeout left, and the report is
// written within them.
func TestTimeoutCountsFromTheCommandsStart(t *testing.T) {
	host := kfptest.SilentServer(t)
	s := quiet(nil)
	s.Started = time.Now().Add(-700 * time.Millisecond)
	begin := time.Now()
	rep, err := Run(context.Background(), Config{Host: host, Namespace: "ns-1", Timeout: time.Second}, s, &redact.Redactor{})
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	var healthz probe.Result
	for _, r := range rep.Results {
		if r.Probe == "healthz" {
			healthz = r
		}
	}
	if healthz.Status != probe.Fail || healthz.KFD != kfd.NoAnswer {
		t.Fatalf("healthz %+v, want KFD024", healthz)
	}
	// 300 ms were left; the engine's grace for a stuck probe is 200 ms.
	if took > 550*time.Millisecond || took < 250*time.Millisecond {
		t.Fatalf("the run took %v of the 300 ms left", took)
	}
	if rep.Elapsed < time.Second-reportReserve(time.Second)-20*time.Millisecond {
		t.Fatalf("elapsed %v: it counts from the command's start", rep.Elapsed)
	}
}
