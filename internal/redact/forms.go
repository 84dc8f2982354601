package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// Forms lists the forms in which a secret may come back from a server or a
// library, each worth masking on its own:
//   - raw, trimmed of surrounding white space;
//   - unquoted, for an RFC 6265 quoted cookie value (name="value"), since
//     servers echo the inner value;
//   - percent-encoded (query and path escaping, upper- and lower-case hex),
//     as a redirect or a logged URL carries it;
//   - JSON-escaped (with and without HTML escaping, and with "\/"), as an
//     echoing API embeds it in a string;
//   - base64 in both alphabets, with and without padding, and the part of
//     each that does not depend on neighbouring bytes when the secret sits
//     at any offset inside a larger encoded value (a Basic header's
//     "user:password", an encoded cookie jar).
//
// Forms too short to mask safely are left out; the result has no duplicates.
func Forms(secret string) []string {
	raw := strings.TrimSpace(secret)
	if len(raw) < minSecret {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(f string, min int) {
		if len(f) >= min && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	values := []string{raw}
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		values = append(values, raw[1:len(raw)-1])
	}
	for _, v := range values {
		add(v, minSecret)
		for _, esc := range []string{url.QueryEscape(v), url.PathEscape(v)} {
			add(esc, minSecret)
			add(lowerHex(esc), minSecret)
		}
		for _, j := range jsonForms(v) {
			add(j, minSecret)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			full := enc.EncodeToString([]byte(v))
			add(full, minDerived)
			add(strings.TrimRight(full, "="), minDerived)
			for offset := 0; offset < 3; offset++ {
				add(base64Core(enc, v, offset), minDerived)
			}
		}
	}
	return out
}

func jsonForms(v string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(v); err != nil {
			continue
		}
		q := strings.TrimSuffix(b.String(), "\n")
		q = q[1 : len(q)-1] // drop the quotes
		out = append(out, q, strings.ReplaceAll(q, "/", `\/`))
	}
	return out
}

// lowerHex lower-cases the hex digits of percent escapes ("%2F" → "%2f").
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// base64Core is the run of base64 characters determined by v alone when v
// starts offset bytes into a larger encoded value: characters that also
// carry bits of the bytes before or after v differ from one context to
// another and are left out.
func base64Core(enc *base64.Encoding, v string, offset int) string {
	padded := strings.Repeat("\x00", offset) + v
	full := enc.WithPadding(base64.NoPadding).EncodeToString([]byte(padded))
	first := (8*offset + 5) / 6   // the first character wholly within v's bits
	last := (8 * len(padded)) / 6 // characters before this hold only known bits
	if first >= last || last > len(full) {
		return ""
	}
	return full[first:last]
}
