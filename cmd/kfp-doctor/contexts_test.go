package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Several contexts are diagnosed at once, each with its own report. The two
// fake kube-apiservers hold their first request until the other has had one
// too: run one after the other, the first would wait out its whole deadline
// and report that; run together, both answer, and both reports say what the
// clusters answered.
func TestSeveralContextsAtOnce(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(2)
	server := func() *httptest.Server {
		var once sync.Once
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { arrived.Done(); arrived.Wait() })
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"services is forbidden: User \"someone\" cannot list resource \"services\"","reason":"Forbidden","code":403}`)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := server(), server()
	kubeconfig := filepath.Join(t.TempDir(), "config")
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: %q}}, {name: b, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: first, context: {cluster: a, user: u}}, {name: second, context: {cluster: b, user: u}}]
current-context: first
`, a.URL, b.URL)
	if err := os.WriteFile(kubeconfig, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--kubeconfig", kubeconfig, "--context", "first", "--context", "second", "--timeout", "5s", "-o", "json"},
		{"--kubeconfig", kubeconfig, "--all-contexts", "--timeout", "5s", "-o", "json"},
	} {
		arrived = sync.WaitGroup{}
		arrived.Add(2)
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		var reports []map[string]any
		if err := json.Unmarshal(out.Bytes(), &reports); err != nil {
			t.Fatalf("%v: not a JSON array: %v\n%s\n%s", args, err, out.String(), errb.String())
		}
		if len(reports) != 2 || reports[0]["context"] != "first" || reports[1]["context"] != "second" {
			t.Fatalf("%v: reports %v", args, reports)
		}
		for _, r := range reports {
			if s := fmt.Sprint(r); !strings.Contains(s, "forbidden") {
				t.Errorf("context %v did not get its cluster's answer (run one after the other?): %s", r["context"], s)
			}
		}
		if code == 0 {
			t.Errorf("%v: exit 0 for two failing clusters", args)
		}
		if strings.Contains(out.String(), "not-a-real-token") {
			t.Error("the kubeconfig's token reached the output")
		}
	}
	// JUnit holds a test suite per context, on stdout (-o junit) or in
	// --junit-file next to the text report.
	junitPath := filepath.Join(t.TempDir(), "junit.xml")
	for _, args := range [][]string{
		{"--kubeconfig", kubeconfig, "--all-contexts", "--timeout", "5s", "-o", "junit"},
		{"--kubeconfig", kubeconfig, "--all-contexts", "--timeout", "5s", "--junit-file", junitPath},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		xmlText := out.String()
		if args[len(args)-2] == "--junit-file" {
			if !strings.Contains(out.String(), "══ context first") {
				t.Errorf("%v: the text report left stdout:\n%s", args, out.String())
			}
			b, err := os.ReadFile(junitPath)
			if err != nil {
				t.Fatal(err)
			}
			xmlText = string(b)
		}
		var suites struct {
			Suites []struct {
				Name string `xml:"name,attr"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal([]byte(xmlText), &suites); err != nil || len(suites.Suites) != 2 ||
			!strings.HasPrefix(suites.Suites[0].Name, "kfp-doctor context first") || !strings.HasPrefix(suites.Suites[1].Name, "kfp-doctor context second") || code == exitOK {
			t.Errorf("%v: exit %d, suites %+v (%v):\n%s%s", args, code, suites, err, xmlText, errb.String())
		}
	}
	// --host takes one run.
	for _, args := range [][]string{
		{"--kubeconfig", kubeconfig, "--all-contexts", "--host", "http://x"},
		{"--kubeconfig", kubeconfig, "--all-contexts", "--context", "first"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errb.String())
		}
	}
}
