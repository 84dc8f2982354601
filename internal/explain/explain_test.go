package explain

import (
	"slices"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

func newExplainer(t *testing.T) *Explainer {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ids(a *Answer) []kfd.ID {
	var out []kfd.ID
	for _, m := range a.Matches {
		out = append(out, m.ID)
	}
	return out
}

// Every catalogue id is recognised: a real text of the catalogue explains to
// it first, or (for the doctor's own findings) the doctor's phrase for it
// does. It iterates over kfd.All(): a new id without either fails it.
func TestEveryIDIsRecognised(t *testing.T) {
	e := newExplainer(t)
	phrases := map[kfd.ID][]DoctorPhrase{}
	for _, d := range DoctorPhrases() {
		phrases[d.ID] = append(phrases[d.ID], d)
	}
	for _, entry := range kfd.All() {
		t.Run(string(entry.ID), func(t *testing.T) {
			i, ok := e.byID[entry.ID]
			if !ok {
				t.Fatalf("%s has no rule in internal/explain/table.go: add the phrases that name it", entry.ID)
			}
			if r := e.rules[i]; r.Confirm == "" || !strings.HasPrefix(strings.TrimPrefix(r.Confirm, "KFP_DOCTOR_PASSWORD=<PASSWORD> "), "kfp-doctor ") {
				t.Errorf("%s confirms with %q, not a kfp-doctor command", entry.ID, r.Confirm)
			}
			recognised := false
			for _, x := range kfd.TextsOf(entry.ID) {
				a := e.Explain(x.Body)
				if a.Matched() && a.Matches[0].ID == entry.ID && !a.Matches[0].Named {
					recognised = true
				}
			}
			for _, d := range phrases[entry.ID] {
				a := e.Explain("✖ probe  " + d.Phrase)
				if got := ids(a); !slices.Contains(got, entry.ID) {
					t.Errorf("the doctor's phrase %q (%s) explains to %v", d.Phrase, d.Where, got)
				}
				recognised = true
			}
			if !recognised {
				t.Errorf("%s: no text of internal/kfd/texts.txtar explains to it first, and the doctor has no phrase for it", entry.ID)
			}
		})
	}
}

// Every pattern of the table is shown by some text of its id: a phrase no
// text shows is a guess.
func TestEveryPatternComesFromAText(t *testing.T) {
	e := newExplainer(t)
	for _, r := range e.rules {
		for _, p := range r.pats {
			if p.Doctor {
				continue
			}
			hit, real := false, false
			for _, x := range kfd.TextsOf(r.ID) {
				if firstMatch(Normalize(x.Body), p) != nil {
					hit, real = true, real || x.Real()
				}
			}
			switch {
			case !hit:
				t.Errorf("%s: no text of internal/kfd/texts.txtar shows the pattern %q: add the real text it comes from", r.ID, p.Re)
			case !real:
				t.Logf("%s: only a text written here (shape:) shows the pattern %q", r.ID, p.Re)
			}
		}
	}
}

// Matching ignores case: users paste what proxies and libraries print, in
// whatever case they print it.
func TestCaseInsensitive(t *testing.T) {
	e := newExplainer(t)
	for text, want := range map[string]kfd.ID{
		"[frontend] Error: 'No Healthy Upstream'":                             kfd.BackendNotReady,
		"HTTP response body: JWT IS EXPIRED":                                  kfd.Expired,
		"HTTPHeaderDict({'X-Goog-IAP-Generated-Response': 'true'})":           kfd.DistroIAP,
		"kfp.Client: REQUEST HEADER ERROR: THERE IS NO USER IDENTITY HEADER.": kfd.NoIdentity,
		"see kfd009": kfd.RBACDenied,
	} {
		if a := e.Explain(text); !a.Matched() || a.Matches[0].ID != want {
			t.Errorf("%q explains to %v, want %s first", text, ids(a), want)
		}
	}
}

func TestExplain(t *testing.T) {
	e := newExplainer(t)
	tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns", ServiceAccount: "sa", Audience: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		text      string
		want      []kfd.ID
		certain   bool
		facts     map[string]string
		confirmIn string
	}{
		{
			name: "a whole notebook cell: the missing token file, then the 401 it leads to, in that order",
			text: "ERROR:root:Failed to read a token from file '/var/run/secrets/kubeflow/pipelines/token' ([Errno 2] No such file or directory: '/var/run/secrets/kubeflow/pipelines/token').\n" +
				"WARNING:root:Failed to set up default credentials. Proceeding without credentials...\n" +
				"Traceback (most recent call last):\n  File \"<ipython-input-3>\", line 4, in <module>\n    client.list_experiments(namespace='kubeflow-user-example-com')\n" +
				"kfp_server_api.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response body: {\"code\":16,\"message\":\"Request header error: there is no user identity header.\"}",
			want: []kfd.ID{kfd.NoTokenFile, kfd.NoIdentity}, certain: true,
			facts: map[string]string{"namespace": "kubeflow-user-example-com"},
		},
		{
			name: "the audience message wins over the identity and TokenReview phrases it contains",
			text: `Unauthenticated: Request header error: there is no user identity header., Authentication failure: Unauthenticated: Review.Status.Authenticated is false. Error [invalid bearer token, token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences ["pipelines.kubeflow.org"]]: Failed to authenticate token review`,
			want: []kfd.ID{kfd.TokenAudience}, certain: true,
		},
		{
			name: "an .ipynb output: JSON-escaped, with colour codes",
			text: `"\u001b[0;31mAttributeError\u001b[0m: module 'kfp' has no attribute 'auth'\n"`,
			want: []kfd.ID{kfd.SDKAuthModule}, certain: true,
		},
		{
			name: "a rich traceback whose box drawing cuts the phrase",
			text: "│ NewConnectionError: <urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection │\n│ refused │\nHTTPConnectionPool(host='localhost', port=3000): Max retries exceeded",
			// Nothing in it says KFP: any client refused says this.
			want: []kfd.ID{kfd.NothingListening}, certain: false,
			facts:     map[string]string{"host": "http://localhost:3000"},
			confirmIn: "kfp-doctor --host http://localhost:3000",
		},
		{
			name: "the empty-list print is only possibly a login page",
			text: "print(client.list_experiments())\n{'experiments': None, 'next_page_token': None, 'total_size': None}",
			want: []kfd.ID{kfd.LoginPage}, certain: false,
		},
		{
			name: "the RBAC denial names the subject and namespace for the fix",
			text: `PermissionDenied: User 'system:serviceaccount:ns-1:alice' is not authorized with reason:  (request: &ResourceAttributes{Namespace:team-a,Verb:list,Group:pipelines.kubeflow.org,Version:v1beta1,Resource:experiments,})`,
			want: []kfd.ID{kfd.RBACDenied}, certain: true,
			facts:     map[string]string{"namespace": "team-a", "subject": "system:serviceaccount:ns-1:alice"},
			confirmIn: "-n team-a",
		},
		{
			name: "a kfp-doctor report names its ids",
			text: "✖ list-experiments  KFD009  HTTP 403, code 7\n  hint: bind the identity",
			want: []kfd.ID{kfd.RBACDenied}, certain: true,
		},
		{
			name: "an unknown KFD number is no match",
			text: "see KFD099",
		},
		{
			name: "Dex down behind the gateway, not the KFP backend",
			text: "GET http://localhost:8080/dex/auth?client_id=kubeflow-oidc-authservice answered HTTP 503: upstream connect error or disconnect/reset before headers. reset reason: connection failure",
			want: []kfd.ID{kfd.LoginProviderDown}, certain: true,
			facts: nil,
		},
		{
			name: "the in-cluster default names KFP's own namespace: not KFD038",
			text: "HTTPConnectionPool(host='ml-pipeline.kubeflow.svc.cluster.local', port=8888): Max retries exceeded (Caused by NewConnectionError('<x>: Failed to establish a new connection: [Errno -2] Name or service not known'))",
			want: []kfd.ID{kfd.DNS}, certain: true,
		},
		{
			name: "a token pasted along is masked in the evidence",
			text: "Authorization: Bearer " + tok + "\nkfp_server_api.exceptions.ApiException: (401)\nHTTP response body: Jwt issuer is not configured",
			want: []kfd.ID{kfd.JWTIssuer}, certain: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.Explain(tc.text)
			if got := ids(a); !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			for _, m := range a.Matches {
				if m.Certain != tc.certain {
					t.Errorf("%s certain=%v, want %v (why %q)", m.ID, m.Certain, tc.certain, m.Why)
				}
				if !m.Certain && m.Why == "" {
					t.Errorf("%s is uncertain without saying why", m.ID)
				}
				if strings.Contains(m.Evidence, tok) || strings.Contains(m.Evidence, "eyJ") {
					t.Errorf("evidence leaks the token: %s", m.Evidence)
				}
				if m.Cause == "" || m.Fix == "" || m.Doc == "" || m.Confirm == "" || m.Evidence == "" {
					t.Errorf("%s is incomplete: %+v", m.ID, m)
				}
				if tc.confirmIn != "" && !strings.Contains(m.Confirm, tc.confirmIn) {
					t.Errorf("confirm %q lacks %q", m.Confirm, tc.confirmIn)
				}
			}
			for k, v := range tc.facts {
				if a.Facts[k] != v {
					t.Errorf("fact %s = %q, want %q (all %v)", k, a.Facts[k], v, a.Facts)
				}
			}
			if len(tc.want) == 0 && a.Matched() {
				t.Error("matched")
			}
		})
	}
}

// Text that names no failure gets no match and, when it shares words with
// the catalogue, the nearest ids with the words they share.
func TestNearest(t *testing.T) {
	e := newExplainer(t)
	tests := []struct {
		text      string
		wantFirst kfd.ID
		wantWord  string
	}{
		{"my token's audience looks odd to me", kfd.TokenAudience, "audience"},
		{"where is the PodDefault for my notebook?", kfd.NoTokenFile, "poddefault"},
		{"it hangs forever and never answers", kfd.NoAnswer, "never"},
	}
	for _, tc := range tests {
		a := e.Explain(tc.text)
		if a.Matched() {
			t.Errorf("%q matched %v: prose is not an error", tc.text, ids(a))
			continue
		}
		if len(a.Nearest) == 0 || a.Nearest[0].ID != tc.wantFirst {
			t.Errorf("%q: nearest %+v, want %s first", tc.text, a.Nearest, tc.wantFirst)
			continue
		}
		if !slices.Contains(a.Nearest[0].Words, tc.wantWord) {
			t.Errorf("%q: shared words %v lack %q", tc.text, a.Nearest[0].Words, tc.wantWord)
		}
		if len(a.Nearest) > 3 {
			t.Errorf("%d nearest", len(a.Nearest))
		}
	}
	if a := e.Explain("lorem ipsum dolor"); a.Matched() || len(a.Nearest) != 0 {
		t.Errorf("unrelated text: %+v", a)
	}
}

func TestNormalize(t *testing.T) {
	got := Normalize("\x1b[0;32mFile\x1b[0m \\u001b[1;32m x\\ny \n\n│ z ╰──")
	if got != "File x y z" {
		t.Errorf("%q", got)
	}
	if s := redact.Shapes(got); s != got {
		t.Error("plain text changed by redaction")
	}
}
