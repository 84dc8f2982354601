package doctor

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Whatever a kubeconfig's credentials are, once the client configuration is
// built an API server echoing them back in any form (raw, quoted, escaped,
// base64) gets them masked: the static ones at once, the Authorization a
// request carried (an exec plugin's token) as it leaves.
func FuzzKubeconfigRedaction(f *testing.F) {
	for _, s := range []string{"Zq9kubeconfigTOKEN-81x", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "p@ss:w/o+rd=", `quote"d\value`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		secret = strings.TrimSpace(secret)
		if len(redact.Forms(secret)) == 0 || strings.ContainsAny(secret, "\r\n\x00") {
			t.Skip("too short to mask, or no header could carry it")
		}
		for _, field := range []string{"token", "password", "exec"} {
			red := &redact.Redactor{}
			rc := &rest.Config{}
			switch field {
			case "token":
				rc.BearerToken = secret
			case "password":
				rc.Username, rc.Password = "admin", secret
			}
			addKubeCredentials(red, rc)
			if field == "exec" {
				var sent bool
				rt := learnCredentials{roundTripFunc(func(*http.Request) (*http.Response, error) {
					sent = true
					return httptest.NewRecorder().Result(), nil
				}), red}
				req := httptest.NewRequest(http.MethodGet, "https://kube.example/api", nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				if _, err := rt.RoundTrip(req); err != nil || !sent {
					t.Fatalf("the request was not sent: %v", err)
				}
			}
			j, _ := json.Marshal(secret)
			for _, echo := range []string{secret, string(j), url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret))} {
				msg := `{"message":"Unauthorized: ` + echo + `"}`
				if out := red.String(msg); strings.Contains(out, secret) || (len(echo) >= 12 && strings.Contains(out, echo)) {
					t.Fatalf("%s %q: the echo %q survived: %s", field, secret, echo, out)
				}
			}
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
