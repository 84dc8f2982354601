package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runExplain(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWithInput(context.Background(), append([]string{"explain"}, args...), stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExplainCommand(t *testing.T) {
	dir := t.TempDir()
	cell := filepath.Join(dir, "cell.txt")
	if err := os.WriteFile(cell, []byte("kfp_server_api.exceptions.ApiException: (403)\nHTTP response body: {\"code\":7,\"message\":\"PermissionDenied: User 'system:serviceaccount:team-a:default-editor' is not authorized with reason:  (request: &ResourceAttributes{Namespace:team-b,Verb:list,})\"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"a traceback on stdin", "AttributeError: module 'kfp' has no attribute 'auth'\n", nil, exitOK, "KFD023", ""},
		{"a file, the subject and namespace filled in", "", []string{"--file", cell}, exitOK, "kfp-doctor fix KFD009 -n team-b --subject system:serviceaccount:team-a:default-editor", ""},
		{"no match", "everything is fine\n", nil, exitFailed, "no match", ""},
		{"empty input", "", nil, exitUsage, "", "the input is empty"},
		{"a missing file", "", []string{"--file", filepath.Join(dir, "nope")}, exitUsage, "", "no such file"},
		{"too large", "", []string{"--file", big}, exitUsage, "", "input over 1048576 bytes"},
		{"a bad format", "x", []string{"-o", "yaml"}, exitUsage, "", `-o "yaml"`},
		{"an argument", "x", []string{"text"}, exitUsage, "", "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runExplain(t, strings.NewReader(tc.stdin), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Errorf("stdout %q lacks %q or stderr %q lacks %q", out, tc.out, errs, tc.err)
			}
		})
	}
}

func TestExplainJSON(t *testing.T) {
	code, out, _ := runExplain(t, strings.NewReader("Failed getting healthz endpoint after 5 attempts."), "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var a struct {
		Matched bool `json:"matched"`
		Matches []struct {
			ID, Cause, Fix, Confirm, Doc string
			Certain                      bool
		} `json:"matches"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !a.Matched || len(a.Matches) != 1 || a.Matches[0].ID != "KFD014" || !a.Matches[0].Certain || a.Matches[0].Confirm == "" {
		t.Errorf("%s", out)
	}
	code, out, _ = runExplain(t, strings.NewReader("the audience"), "-o", "json")
	if code != exitFailed || !strings.Contains(out, `"matched": false`) || !strings.Contains(out, `"nearest_by"`) || !strings.Contains(out, `"matches": []`) {
		t.Errorf("exit %d: %s", code, out)
	}
}

// A stdin that never ends (a terminal no one types into) meets the deadline
// instead of hanging the command.
func TestExplainInputDeadline(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	start := time.Now()
	code, _, errs := runExplain(t, r, "--timeout", "100ms")
	if code != exitUsage || !strings.Contains(errs, "deadline") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}
