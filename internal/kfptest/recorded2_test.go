package kfptest

import (
	"bytes"
	"strings"
	"testing"
)

// Every "== " block of the recordings' code blocks is parsed, with a status
// and a request (or the recording's own "the same again").
func TestRecorded2Parses(t *testing.T) {
	all := Recorded2()
	want := 0
	inBlock := false
	for _, line := range bytes.Split(recorded2, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("```")) {
			inBlock = !inBlock
		}
		if inBlock && bytes.HasPrefix(line, []byte("== ")) {
			want++
		}
	}
	if len(all) != want || want < 150 {
		t.Fatalf("parsed %d exchanges, the recordings hold %d", len(all), want)
	}
	keys := map[string]bool{}
	for _, e := range all {
		if keys[e.Key()] {
			t.Errorf("%s: two exchanges with one key", e.Key())
		}
		keys[e.Key()] = true
		if e.Status == 0 {
			t.Errorf("%s: no status", e.Key())
		}
		if e.Method == "" && !strings.Contains(e.Name, "the same again") && e.Reply != "" && !strings.HasPrefix(e.Name, "single-user: default page size") {
			t.Errorf("%s: no request line", e.Key())
		}
	}
	if e := all[0]; e.Section != 1 || e.Method != "GET" || !strings.HasPrefix(e.Target, "/apis/v2beta1/experiments?page_token=") || e.Header[0] != "Authorization" {
		t.Errorf("first exchange parsed as %+v", e)
	}
}
