package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ginkgoJUnit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" disabled="0" errors="0" failures="1" time="12.5">
  <testsuite name="kfp-connect conformance" package="/x" tests="3" disabled="0" skipped="1" errors="0" failures="1" time="12.5">
    <testcase name="[It] multi-user out-of-cluster no token → KFD001" classname="kfp-connect conformance" status="passed" time="1.0"></testcase>
    <testcase name="[It] multi-user out-of-cluster wrong | audience → KFD005" classname="kfp-connect conformance" status="failed" time="2.0">
      <failure message="Expected KFD005&#xA;got KFD001" type="failed">long text</failure>
    </testcase>
    <testcase name="[It] standalone in-cluster sdk default" classname="kfp-connect conformance" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`

func TestSummarize(t *testing.T) {
	cases := map[string]struct {
		files   map[string]string
		want    []string
		wantErr string
	}{
		"a suite with a failure": {
			files: map[string]string{"conformance.junit.xml": ginkgoJUnit},
			want: []string{
				"| ✖ kfp-connect conformance | 3 | 1 | 1 | 1 | 12.5 |",
				"### Failed (1)",
				`- **[It] multi-user out-of-cluster wrong \| audience → KFD005** — Expected KFD005`,
			},
		},
		"a green lone testsuite": {
			files: map[string]string{"junit-doctor.xml": `<testsuite name="kfp-doctor" tests="2" failures="0" errors="0" time="0.5"><testcase name="a"/><testcase name="b"/></testsuite>`},
			want:  []string{"| ✔ kfp-doctor | 2 | 2 | 0 | 0 | 0.5 |"},
		},
		"no reports": {
			want: []string{"No JUnit reports in"},
		},
		"a damaged report": {
			files:   map[string]string{"x.junit.xml": "<testsuites><testsuite"},
			wantErr: "is not a JUnit report",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, body := range c.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out strings.Builder
			err := summarize(&out, dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "### Failed") && !strings.Contains(strings.Join(c.want, ""), "### Failed") {
				t.Errorf("a green run lists failures:\n%s", out.String())
			}
		})
	}
}
