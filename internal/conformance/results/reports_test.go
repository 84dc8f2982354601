package results

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

func sampleResults() *Results {
	return &Results{
		RunID: "20260101-000000-abcd", Provider: "existing (lab)", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Duration: 3 * time.Second,
		Cases: []CaseResult{
			{Scenario: "multi-user/in-cluster", Path: "poddefault", Name: "poddefault", Expect: "succeeds", Status: Passed, Duration: time.Second,
				SDK: SDKNotRun + "in an emulated pod"},
			{Scenario: "multi-user/in-cluster", Path: "poddefault", Fault: "wrong-audience", Name: "poddefault × wrong-audience", Expect: "fails with KFD005",
				KFD: kfd.TokenAudience, Status: Failed, Reason: "expected KFD005, got <KFD001>\ndoctor → …"},
			{Scenario: "multi-user/in-cluster", Path: "poddefault", Fault: "no-rolebinding", Name: "poddefault × no-rolebinding", Expect: "fails with KFD009",
				KFD: kfd.RBACDenied, Status: Skipped, Reason: plan.DisruptiveSkip + " (deletes RoleBinding p/default-editor)", Disruptive: true},
			{Scenario: "multi-user/out-of-cluster", Path: "port-forward-bearer", Name: "port-forward-bearer", Expect: "succeeds", Status: Passed,
				SDK: "listed 0 experiment(s) in 40ms"},
		},
	}
}

func TestWriteReports(t *testing.T) {
	dir := t.TempDir()
	res := sampleResults()
	if err := WriteReports(dir, res); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	var junit reporters.JUnitTestSuites
	if err := xml.Unmarshal([]byte(read(JUnitFile)), &junit); err != nil {
		t.Fatalf("JUnit: %v", err)
	}
	if junit.Tests != 4 || junit.Failures != 1 || len(junit.TestSuites) != 2 || junit.TestSuites[0].Skipped != 1 {
		t.Fatalf("JUnit counts: %d tests, %d failures, %d suites", junit.Tests, junit.Failures, len(junit.TestSuites))
	}
	failed := junit.TestSuites[0].TestCases[1]
	if failed.Failure == nil || failed.Failure.Message != "expected KFD005, got <KFD001>" || !strings.Contains(failed.Failure.Description, "doctor →") {
		t.Errorf("JUnit failure: %+v", failed.Failure)
	}
	if sk := junit.TestSuites[0].TestCases[2].Skipped; sk == nil || !strings.HasPrefix(sk.Message, plan.DisruptiveSkip) {
		t.Errorf("JUnit skip: %+v", sk)
	}

	// The real client's outcome is in the case's output.
	if out := junit.TestSuites[1].TestCases[0].SystemOut; !strings.Contains(out, "real kfp.Client: listed 0 experiment(s) in 40ms") {
		t.Errorf("JUnit system-out lacks the SDK's outcome: %q", out)
	}

	var back Results
	if err := json.Unmarshal([]byte(read(JSONFile)), &back); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if len(back.Cases) != 4 || back.Cases[1].KFD != kfd.TokenAudience || back.Cases[1].Status != Failed || back.RunID != res.RunID || back.Cases[3].SDK != res.Cases[3].SDK {
		t.Errorf("JSON round trip: %+v", back)
	}

	page := read(HTMLFile)
	for _, want := range []string{
		"<th>wrong-audience</th>", "<th>no-rolebinding</th>", "<td class=\"path\">poddefault</td>",
		"✔", "✖", "skipped", string(kfd.TokenAudience), string(kfd.RBACDenied),
		"expected KFD005, got &lt;KFD001&gt;", // the reason, escaped
		plan.DisruptiveSkip, "multi-user/out-of-cluster", "1 failed",
		`<span class="sdk">SDK: listed 0 experiment(s) in 40ms</span>`, "(SDK not run: in an emulated pod)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML page lacks %q", want)
		}
	}
	// One self-contained page: no script, no stylesheet or image from
	// anywhere.
	if regexp.MustCompile(`(?i)<script|<link|<img|\bsrc=|url\(|https?://`).MatchString(page) {
		t.Errorf("the HTML page loads something from outside")
	}
}
