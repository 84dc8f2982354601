package doctor

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

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// runWith is one doctor run with the call on stdin as --client-config -.
func runWith(t *testing.T, cfg Config, s Seams, doc string) (*report.Report, *redact.Redactor, error) {
	t.Helper()
	if doc != "" {
		cfg.ClientConfig, s.Stdin = "-", strings.NewReader(doc+"\n")
	}
	red := &redact.Redactor{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg, s, red)
	return rep, red, err
}

// comparable is a report without what differs between two runs of one
// call (times) or names the spelling of the arguments (the flag or the
// document a value came from): what the doctor concluded about the call.
func comparable(t *testing.T, rep *report.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.JSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "elapsed_ms")
	delete(m, "started_at")
	delete(m, "details")
	facts, _ := m["facts"].(map[string]any)
	delete(facts, "host_given_by")
	delete(facts, "credential_chain")
	delete(facts, "client_config")
	for _, r := range m["results"].([]any) {
		delete(r.(map[string]any), "duration_ms")
	}
	out, _ := json.MarshalIndent(m, "", " ")
	return string(out)
}

// A call described by --client-config is resolved exactly as the flags that
// spell the same kfp.Client arguments: the same report, probe by probe.
func TestClientCallReportsAsTheFlags(t *testing.T) {
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")})
	dir := t.TempDir()
	const jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bnMtMTpkZWZhdWx0LWVkaXRvciIsImF1ZCI6WyJwaXBlbGluZXMua3ViZWZsb3cub3JnIl19.c2ln"
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir}
	cases := []struct {
		name  string
		flags Config
		doc   map[string]any
	}{
		{"host only", Config{Host: s.URL}, map[string]any{"host": s.URL}},
		{"existing_token and namespace", Config{Host: s.URL, Namespace: "ns-1", TokenFile: tok}, map[string]any{"host": s.URL, "namespace": "ns-1", "existing_token": jwt}},
		{"credentials=…(path=)", Config{Host: s.URL, Namespace: "ns-1", TokenPath: tok}, map[string]any{"host": s.URL, "namespace": "ns-1", "credentials": map[string]any{"path": tok}}},
		{"cookies and TLS", Config{Host: s.URL, Namespace: "ns-1", Cookies: "oauth2_proxy_kubeflow=c1", InsecureSkipVerify: true}, map[string]any{"host": s.URL, "namespace": "ns-1", "cookies": "oauth2_proxy_kubeflow=c1", "verify_ssl": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.flags.Timeout = 5 * time.Second
			byFlags, _, err := runWith(t, c.flags, quiet(env), "")
			if err != nil {
				t.Fatalf("flags: %v", err)
			}
			c.doc["schema_version"] = ClientCallVersion
			doc, _ := json.Marshal(c.doc)
			call := Config{Timeout: 5 * time.Second}
			byCall, _, err := runWith(t, call, quiet(env), string(doc))
			if err != nil {
				t.Fatalf("--client-config: %v", err)
			}
			if a, b := comparable(t, byFlags), comparable(t, byCall); a != b {
				t.Fatalf("the flags and --client-config disagree:\nflags:\n%s\n--client-config:\n%s", a, b)
			}
		})
	}
}

// The document is the whole call: the doctor's own variables, which no
// kfp.Client reads, are not added to it.
func TestClientCallIgnoresTheDoctorsVariables(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), EnvToken: "env-token-not-the-clients", EnvCookies: "env=cookie"}
	cfg := Config{Timeout: time.Second, ClientConfig: "-"}
	s := quiet(env)
	s.Stdin = strings.NewReader(`{"schema_version":"1","host":"http://kfp.example"}` + "\n")
	r := &resolver{s: s.withDefaults(), red: &redact.Redactor{}, d: newDeadlines(cfg)}
	call, err := withClientCall(context.Background(), cfg, r.s, r.d, r.red)
	if err != nil {
		t.Fatal(err)
	}
	p := resolveFor(t, call, s)
	if len(p.Credentials) != 0 || p.Call.AuthKind != sdkmodel.AuthNone {
		t.Fatalf("credentials %+v, auth %s: want none", p.Credentials, p.Call.AuthKind)
	}
	if p.Given.Flag() != "host= (--client-config)" || p.ClientSource != "a kfp.Client call" || !strings.HasPrefix(p.details[0], "a kfp.Client call (--client-config)") {
		t.Fatalf("host given by %q, client %q, details %q", p.Given.Flag(), p.ClientSource, p.details)
	}
}

// No host is kfp.Client()'s own default; outside a pod that is the
// kube-apiserver's service proxy, which the doctor checks instead of its
// own port-forward.
func TestClientCallWithoutHostIsTheSDKDefault(t *testing.T) {
	got := clientCallConfig(Config{Timeout: time.Second}, &ClientCall{Namespace: "ns-1", Credentials: &VolumeCredentials{}})
	if !got.SDKDefaultHost || got.Host != "" || !got.VolumeCredentials || got.TokenPath != "" || got.Namespace != "ns-1" {
		t.Fatalf("%+v", got)
	}
	got = clientCallConfig(Config{}, &ClientCall{Host: "https://kfp.example", SSLCACert: "/ca.pem", VerifySSL: ptr(true)})
	if got.SDKDefaultHost || got.CACert != "/ca.pem" || got.InsecureSkipVerify {
		t.Fatalf("%+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

// Bad documents and bad combinations are usage errors that name the cause,
// and never quote the secrets the document holds.
func TestClientCallRefusals(t *testing.T) {
	const secret = "canary-token-0123456789abcdef"
	cases := []struct {
		name string
		cfg  Config
		doc  string
		want string
	}{
		{"a call flag too", Config{Host: "http://x"}, `{"schema_version":"1"}`, "drop --host"},
		{"the login too", Config{Username: "u"}, `{"schema_version":"1"}`, "drop --username"},
		{"not JSON", Config{}, `{"existing_token": "` + secret + `"`, "not a JSON object"},
		{"a misspelt argument", Config{}, `{"schema_version":"1","existing_token":"` + secret + `","hots":"x"}`, `unknown field "hots"`},
		{"a wrong type", Config{}, `{"schema_version":"1","existing_token":"` + secret + `","verify_ssl":"no"}`, `"verify_ssl" must be a bool`},
		{"another version", Config{}, `{"schema_version":"2","existing_token":"` + secret + `"}`, `schema_version "2"`},
		{"two tokens", Config{}, `{"schema_version":"1","existing_token":"` + secret + `","credentials":{}}`, "pass one"},
		{"a token of two words", Config{}, `{"schema_version":"1","host":"http://x","existing_token":"` + secret + ` more"}`, "more than one word"},
		{"nothing on stdin", Config{}, ``, "--client-config -"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Timeout, c.cfg.ClientConfig = time.Second, "-"
			s := quiet(map[string]string{"HOME": t.TempDir()})
			s.Stdin = strings.NewReader(c.doc + "\n")
			red := &redact.Redactor{}
			_, err := Run(context.Background(), c.cfg, s, red)
			if err == nil || !IsUsage(err) {
				t.Fatalf("err %v: want a usage error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q does not say %q", err, c.want)
			}
			if strings.Contains(red.String(err.Error()), secret) || strings.Contains(err.Error(), secret) {
				t.Fatalf("the error quotes the secret: %q", err)
			}
		})
	}
}

// A stdin that never delivers ends at the run's deadline, not never.
func TestClientCallStdinHasADeadline(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	s := quiet(nil)
	s.Stdin = pr
	start := time.Now()
	_, err := Run(context.Background(), Config{Timeout: 200 * time.Millisecond, ClientConfig: "-"}, s, &redact.Redactor{})
	if err == nil || !strings.Contains(err.Error(), "nothing arrived") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
}

// A file works as well as stdin, through the bounded reader.
func TestClientCallFromAFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "call.json")
	if err := os.WriteFile(f, []byte(`{"schema_version":"1","host":"http://kfp.example","namespace":"ns-2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	call, err := withClientCall(context.Background(), Config{ClientConfig: f}, quiet(nil).withDefaults(), newDeadlines(Config{Timeout: time.Second}), &redact.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	if call.Host != "http://kfp.example" || call.Namespace != "ns-2" {
		t.Fatalf("%+v", call)
	}
	if _, err := withClientCall(context.Background(), Config{ClientConfig: dir}, quiet(nil).withDefaults(), newDeadlines(Config{Timeout: time.Second}), &redact.Redactor{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("a directory: %v", err)
	}
}
