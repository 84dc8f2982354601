package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The README's front page quotes one diagnosis: a multi-user KFP reached
// through a port-forward to ml-pipeline-ui with a namespace and no
// credentials. This runs that diagnosis against a server answering as the
// recorded KFP 2.17.0 does and holds the quote to it, line by line, so the
// first screen a newcomer reads cannot drift from what the doctor prints.
func TestREADMEQuotesTheDoctor(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	quoted := quotedBlock(t, string(readme), "kfp-doctor → http://localhost:3000")

	s := kfptest.Server(t, kfptest.Routes{
		// The UI server's index page, as a browser (and the distribution probe) gets it.
		"/":                   kfptest.Raw(200, "text/html", `<!doctype html><html><head><title>Kubeflow Pipelines</title></head><body><div id="root"></div></body></html>`),
		kfptest.HealthzV2:     kfptest.UIHealthz(true, true),
		kfptest.ExperimentsV2: kfptest.Fixed("no auth, ns=ns-1"),
	})
	t.Setenv("NO_COLOR", "1")
	_, out, stderr := runDoctor(t, nil, "--host", s.URL, "-n", "my-profile")
	got := strings.ReplaceAll(out, s.URL, "http://localhost:3000")

	elapsed := regexp.MustCompile(` in [0-9.]+(ms|µs|s)$`)
	norm := func(text string) []string {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			lines = append(lines, elapsed.ReplaceAllString(strings.TrimRight(l, " "), " in …"))
		}
		return lines
	}
	want, have := norm(quoted), norm(got)
	for i := 0; i < max(len(want), len(have)); i++ {
		var w, h string
		if i < len(want) {
			w = want[i]
		}
		if i < len(have) {
			h = have[i]
		}
		if w != h {
			t.Fatalf("README.md's quoted diagnosis differs at line %d:\nREADME: %q\ndoctor: %q\n\nthe doctor printed:\n%s\nstderr: %s", i+1, w, h, got, stderr)
		}
	}
}

// quotedBlock returns the fenced block of text whose first line is first.
func quotedBlock(t *testing.T, doc, first string) string {
	t.Helper()
	start := strings.Index(doc, "```\n"+first+"\n")
	if start < 0 {
		t.Fatalf("no fenced block starting %q", first)
	}
	body := doc[start+len("```\n"):]
	end := strings.Index(body, "\n```")
	if end < 0 {
		t.Fatalf("the block starting %q is not closed", first)
	}
	return body[:end]
}
