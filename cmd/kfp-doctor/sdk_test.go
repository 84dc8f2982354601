package main

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// byIdentity answers experiments as multi-user KFP does: 200 for a bearer
// token or the stored user header, 401 "no user identity" otherwise. The
// probes ask concurrently (the sent and the unsent token), hence the lock.
func byIdentity(seen *[]string) http.HandlerFunc {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*seen = append(*seen, r.URL.Query().Get("namespace"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "" || r.Header.Get("kubeflow-userid") != "" {
			kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")(w, r)
			return
		}
		kfptest.Fixed("no auth, ns=ns-1")(w, r)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// kfp.Client(host=…) with a token mounted: KFD001 from the call, KFD036
// naming the token, and the token tried; --token-path sends it and passes.
func TestHostWithoutCredentialsNamesTheMountedToken(t *testing.T) {
	var seen []string
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: byIdentity(&seen)})
	tok := filepath.Join(t.TempDir(), "token")
	writeFile(t, tok, "a-mounted-token-value")
	env := map[string]string{"KF_PIPELINES_SA_TOKEN_PATH": tok}

	code, out := doctorJSON(t, env, "--host", s.URL, "-n", "ns-1")
	if st, id := out.probe("list-experiments"); code != 1 || st != "fail" || id != "KFD001" {
		t.Fatalf("list-experiments %s %s (exit %d), want fail KFD001", st, id, code)
	}
	found := false
	for _, r := range out.Results {
		if r.Probe == "unsent-token" {
			found = true
			for _, want := range []string{"does not send the token mounted at " + tok, "ServiceAccountTokenVolumeCredentials()", "it would have worked"} {
				if !strings.Contains(r.Message, want) {
					t.Errorf("unsent-token message lacks %q: %s", want, r.Message)
				}
			}
			if r.KFD != "KFD036" || r.Status != "warn" {
				t.Errorf("unsent-token %s %s", r.Status, r.KFD)
			}
		}
	}
	if !found {
		t.Fatalf("no unsent-token result: %+v", out.Results)
	}
	code, out = doctorJSON(t, env, "--host", s.URL, "-n", "ns-1", "--token-path", tok)
	if st, _ := out.probe("list-experiments"); code != 0 || st != "pass" {
		t.Fatalf("with --token-path: exit %d, list-experiments %s", code, st)
	}
	if st, _ := out.probe("unsent-token"); st != "absent" {
		t.Fatalf("the token is sent now, yet unsent-token says %s", st)
	}
}

// context.json as the SDK reads it: its namespace fills in (and beats
// nothing given), its header is sent, and its secrets never show.
func TestContextFile(t *testing.T) {
	var seen []string
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: byIdentity(&seen)})
	home := t.TempDir()
	const secret = "HEADERSECRETc0ntext"
	writeFile(t, filepath.Join(home, ".config/kfp/context.json"),
		`{"namespace": "ns-1", "client_authentication_header_name": "kubeflow-userid", "client_authentication_header_value": "`+secret+`", "client_authentication_cookie": "authservice_session=COOKIESECRETc0ntext"}`)
	code, stdout, stderr := runDoctor(t, map[string]string{"HOME": home}, "--host", s.URL)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"namespace ns-1 from " + filepath.Join(home, ".config/kfp/context.json"), "header kubeflow-userid from", "the constructor skips healthz"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, secret) || strings.Contains(stdout+stderr, "COOKIESECRETc0ntext") {
		t.Fatalf("a context.json secret leaked:\n%s", stdout)
	}
	if len(seen) == 0 || seen[len(seen)-1] != "ns-1" {
		t.Fatalf("namespaces sent: %q", seen)
	}

	// A file without the namespace key makes kfp.Client() raise.
	writeFile(t, filepath.Join(home, ".config/kfp/context.json"), `{}`)
	code, out := doctorJSON(t, map[string]string{"HOME": home}, "--host", s.URL)
	if st, id := out.probe("sdk"); code != 1 || st != "fail" || id != "KFD037" {
		t.Fatalf("sdk %s %s (exit %d), want fail KFD037", st, id, code)
	}
}

// With no flags, what the SDK itself reads — $KF_PIPELINES_ENDPOINT and the
// namespace in ~/.config/kfp/context.json — gives the same verdict, probe
// by probe, as --host and -n do, and the report says where each came from.
func TestSDKSourcesReachTheFlagsVerdict(t *testing.T) {
	var seen []string
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: byIdentity(&seen)})
	verdict := func(o jsonOut) map[string]string {
		v := map[string]string{}
		for _, r := range o.Results {
			v[r.Probe] = r.Status + " " + r.KFD
		}
		return v
	}
	flagsCode, flags := doctorJSON(t, nil, "--host", s.URL, "-n", "ns-1")

	home := t.TempDir()
	ctxFile := filepath.Join(home, ".config/kfp/context.json")
	writeFile(t, ctxFile, `{"namespace": "ns-1"}`)
	env := map[string]string{"HOME": home, "KF_PIPELINES_ENDPOINT": s.URL}
	envCode, fromSDK := doctorJSON(t, env)
	if flagsCode != envCode || !reflect.DeepEqual(verdict(flags), verdict(fromSDK)) {
		t.Fatalf("flags: exit %d %v\nSDK's sources: exit %d %v", flagsCode, verdict(flags), envCode, verdict(fromSDK))
	}
	if st, id := fromSDK.probe("list-experiments"); st != "fail" || id != "KFD001" {
		t.Fatalf("list-experiments %s %s: the server answers no identity, want fail KFD001", st, id)
	}
	if len(seen) != 2 || seen[0] != "ns-1" || seen[1] != "ns-1" {
		t.Fatalf("namespaces sent: %q", seen)
	}
	_, text, _ := runDoctor(t, env)
	for _, want := range []string{"$KF_PIPELINES_ENDPOINT", "namespace ns-1 from " + ctxFile} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say where a value came from (%q):\n%s", want, text)
		}
	}
}
