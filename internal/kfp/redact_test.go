package kfp

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// What the classifier quotes from a reply is masked before it is shortened:
// a secret straddling the quote's cut (or, for KFP's message chains, the
// cut from the front) leaves no piece behind.
func TestQuotesAreMaskedBeforeTheCut(t *testing.T) {
	const secret = "Zq9straddlingSecretValue"
	var red redact.Redactor
	red.Add(secret)
	envelope := func(msg string) []byte {
		b, _ := json.Marshal(map[string]any{"code": 2, "message": msg})
		return b
	}
	cases := map[string]*Reply{
		"plain text, head cut": {StatusCode: http.StatusUnauthorized, Body: []byte(strings.Repeat("x", maxQuote-5) + secret + " tail")},
		"html title":           {StatusCode: http.StatusOK, Body: []byte("<html><title>" + strings.Repeat("t", maxQuote-5) + secret + "</title></html>")},
		"envelope, tail cut":   {StatusCode: http.StatusInternalServerError, Body: envelope("a: b: " + secret + strings.Repeat("z", maxQuote-5))},
		"redirect location":    {StatusCode: http.StatusFound, Header: http.Header{"Location": {"http://x/" + strings.Repeat("l", maxQuote-20) + secret}}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			if r.Header == nil {
				r.Header = http.Header{}
			}
			r.red = &red
			d := Classify(r, nil)
			if strings.Contains(d.Summary, "Zq9") || strings.Contains(d.Summary, "ValueAt") {
				t.Fatalf("summary exposes the secret: %s", d.Summary)
			}
			if !strings.Contains(d.Summary, "[RE") {
				t.Fatalf("the quote did not reach the secret, so the case tests nothing: %s", d.Summary)
			}
		})
	}
}
