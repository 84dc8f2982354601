package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const canary = "Canary/Zq9+x=secret&v"

// echoes is how a server can hand a secret back, each written here from the
// standard library, independently of Forms.
func echoes(secret string) map[string]string {
	jsonOf := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return map[string]string{
		"raw":              "got " + secret + " back",
		"quoted":           `Set: name="` + secret + `"; Path=/`,
		"query escaped":    "next=" + url.QueryEscape(secret),
		"path escaped":     "/p/" + url.PathEscape(secret) + "/x",
		"lower-case hex":   regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(secret), strings.ToLower),
		"json":             `{"echo":` + jsonOf(secret) + `}`,
		"json slashes":     `{"echo":"` + strings.ReplaceAll(strings.Trim(jsonOf(secret), `"`), "/", `\/`) + `"}`,
		"base64 std":       base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 raw std":   base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"base64 url":       base64.URLEncoding.EncodeToString([]byte(secret)),
		"base64 raw url":   base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"basic auth":       "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)),
		"base64 offset 1":  base64.StdEncoding.EncodeToString([]byte("x" + secret + "tail")),
		"base64 url off 2": base64.RawURLEncoding.EncodeToString([]byte("xy" + secret)),
	}
}

// The giveaway of an encoded form: the longest run of it that depends on the
// secret alone must not be in the output.
func TestEveryFormIsMasked(t *testing.T) {
	var r Redactor
	r.Add(canary)
	for name, text := range echoes(canary) {
		t.Run(name, func(t *testing.T) {
			out := r.String(text)
			if !strings.Contains(out, Mask) {
				t.Fatalf("%q: nothing masked in %q", text, out)
			}
			for _, f := range Forms(canary) {
				if strings.Contains(out, f) {
					t.Fatalf("form %q survives in %q", f, out)
				}
			}
			if strings.Contains(out, "Zq9") {
				t.Fatalf("a piece of the secret survives in %q", out)
			}
		})
	}
}

// A quoted cookie value (RFC 6265 name="value") is masked with or without
// its quotes.
func TestQuotedCookieValue(t *testing.T) {
	var r Redactor
	r.AddCookies(`session="quotedCookieValue42"; other=plain`)
	for _, text := range []string{`echo quotedCookieValue42`, `"quotedCookieValue42"`, `{"c":"\"quotedCookieValue42\""}`} {
		if out := r.String(text); strings.Contains(out, "quotedCookieValue42") {
			t.Errorf("%q → %q", text, out)
		}
	}
}

// Masking comes before the cut: a secret straddling the cut leaves no
// prefix (or, cutting from the front, no suffix) of itself behind.
func TestCutNeverExposesAPrefix(t *testing.T) {
	var r Redactor
	r.Add(canary)
	text := strings.Repeat("a", 10) + canary + strings.Repeat("b", 10)
	for n := 0; n <= len(text)+1; n++ {
		head, tail := r.Cut(text, n), r.CutTail(text, n)
		// Neither the secret's first characters nor its last may show.
		for _, out := range []string{head, tail} {
			if strings.Contains(out, "Ca") || strings.Contains(out, "&v") {
				t.Fatalf("cut at %d exposes part of the secret: %q", n, out)
			}
		}
	}
	if got := Cut("héllo wörld", 4); got != "héll…" {
		t.Fatalf("Cut splits runes: %q", got)
	}
	if got := CutTail("héllo wörld", 5); got != "…wörld" {
		t.Fatalf("CutTail = %q", got)
	}
}

func TestShapes(t *testing.T) {
	cases := []struct{ in, gone, keep string }{
		{`host "https://user:s3cretPW@kfp.example.com" is not a URL`, "s3cretPW", "kfp.example.com"},
		{`parse "http://admin:hunter22@ho st": invalid character`, "hunter22", "ho st"},
		{`redirect to ftp://u:pw1234@x/`, "pw1234", "ftp://"},
		{`unknown shorthand flag: 'c' in -cookies=abc`, "abc", "-cookies="},
		{`unknown shorthand flag: 't' in -token=opaque123`, "opaque123", "-token="},
		{`flag --token-file=/tmp/tok is fine`, "", "/tmp/tok"},
		{`email user@example.com stays`, "", "user@example.com"},
	}
	for _, c := range cases {
		out := Shapes(c.in)
		if c.gone != "" && strings.Contains(out, c.gone) {
			t.Errorf("%q → %q keeps %q", c.in, out, c.gone)
		}
		if !strings.Contains(out, c.keep) {
			t.Errorf("%q → %q lost %q", c.in, out, c.keep)
		}
	}
}

func TestAddFlagValues(t *testing.T) {
	cases := [][]string{
		{"-cookies=a=flagSecret1"},
		{"-cookies", "a=flagSecret1"},
		{"--cookies=a=flagSecret1"},
		{"--cookie", "flagSecret1"},
		{"-token=flagSecret1"},
		{"---password", "flagSecret1"},
	}
	for _, args := range cases {
		var r Redactor
		r.AddFlagValues(args)
		if out := r.String("parser said: " + strings.Join(args, " ")); strings.Contains(out, "flagSecret1") {
			t.Errorf("%v → %q", args, out)
		}
	}
	var r Redactor
	r.AddFlagValues([]string{"--token-file", "/tmp/tokfile", "--cookies", "@/tmp/cookiefile", "--host", "http://h"})
	if out := r.String("/tmp/tokfile /tmp/cookiefile http://h"); out != "/tmp/tokfile /tmp/cookiefile http://h" {
		t.Errorf("paths and plain flags were masked: %q", out)
	}
}

// FuzzRedact: no registered secret survives, in any of its forms, in any
// cut. Each form of the secret is embedded in text (after pad filler bytes,
// so that long texts cross the masking window too) and cut from the front
// and the back at every length the fuzzer picks: the output must hold no
// form, and a cut of text no longer than its window must be a cut of the
// fully masked text, so no character shows that full masking would hide.
func FuzzRedact(f *testing.F) {
	f.Add("s3cr3t-token-value", "prefix ", " suffix", uint16(12), uint16(0))
	f.Add(canary, `{"a":"`, `"}`, uint16(7), uint16(9000))
	f.Add(`"quoted"`, "x=", "", uint16(3), uint16(0))
	f.Add("ééééé", "", "", uint16(2), uint16(8190))
	f.Fuzz(func(t *testing.T, secret, before, after string, n, pad uint16) {
		var r Redactor
		r.Add(secret)
		forms := Forms(secret)
		if len(forms) == 0 {
			return
		}
		filler := strings.Repeat("-", int(pad)%10000)
		// The raw secret and one other form per input keep each run fast.
		for _, form := range []string{forms[0], forms[int(pad)%len(forms)]} {
			text := filler + before + form + after + filler
			full := r.String(text)
			for _, g := range forms {
				if strings.Contains(full, g) {
					t.Fatalf("form %q survives String(%q) = %q", g, text, full)
				}
			}
			max := int(n) % (len([]rune(text)) + 2)
			head, tail := r.Cut(text, max), r.CutTail(text, max)
			for _, g := range forms {
				if strings.Contains(head, g) || strings.Contains(tail, g) {
					t.Fatalf("form %q survives a cut at %d: %q / %q", g, max, head, tail)
				}
			}
			if len(text) > window(max) {
				continue // masked over a window: not a cut of full, checked above
			}
			if !strings.HasPrefix(full, strings.TrimSuffix(head, Ellipsis)) {
				t.Fatalf("Cut(%q, %d) = %q is not a cut of the masked %q", text, max, head, full)
			}
			if !strings.HasSuffix(full, strings.TrimPrefix(tail, Ellipsis)) {
				t.Fatalf("CutTail(%q, %d) = %q is not a cut of the masked %q", text, max, tail, full)
			}
		}
	})
}

// At the edge of the masking window, a secret cut in two is masked too:
// the part inside the window is no full form any more.
func TestWindowEdge(t *testing.T) {
	var r Redactor
	r.Add(canary)
	max := 10
	w := window(max)
	for _, shift := range []int{1, 5, len(canary) - 1} {
		text := strings.Repeat("a", w-shift) + canary + strings.Repeat("b", 100)
		if edge := r.maskEdge(r.String(text[:w]), true); edge != strings.Repeat("a", w-shift)+Mask {
			t.Fatalf("shift %d: the edge keeps %q", shift, edge[len(edge)-20:])
		}
		tailText := strings.Repeat("b", 100) + canary + strings.Repeat("a", w-shift)
		if start := r.maskEdge(r.String(tailText[len(tailText)-w:]), false); start != Mask+strings.Repeat("a", w-shift) {
			t.Fatalf("shift %d: the front edge keeps %q", shift, start[:20])
		}
	}
}
