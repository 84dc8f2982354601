package kfp

import (
	"net/http"
	"testing"
)

// FuzzParseEnvelope: any body either parses into an envelope with a code and a
// message, or is refused; classification never panics.
func FuzzParseEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"code":16,"message":"Request header error: there is no user identity header."}`,
		`{"error":"x","code":7,"message":"User 'u' is not authorized","details":[{"@type":"t","code":7,"message":"m"}]}`,
		`{"code":5,"message":"Not Found"}`, `{}`, `null`, `[1]`, `<html>`, `RBAC: access denied`, `{"code":1e400}`,
	} {
		f.Add([]byte(seed), 401)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		e, err := ParseEnvelope(body)
		if err == nil && (e.Code == 0 || e.Text() == "") {
			t.Fatalf("accepted an envelope without code or message: %+v", e)
		}
		_ = Classify(&Reply{StatusCode: status, Header: http.Header{}, Body: body}, nil)
		_, _ = ParseHealth(body)
		_ = parseExperimentList(body)
	})
}
