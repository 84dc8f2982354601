package explain

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Whatever is pasted, explain answers without a panic: every id it names
// is the catalogue's, ranked certain first, with its evidence masked and
// valid text; and the text it could not place gets no more than three
// nearest ids.
func FuzzExplain(f *testing.F) {
	for i, x := range kfd.Texts() {
		if i%3 == 0 {
			f.Add(x.Body)
		}
	}
	f.Add("\x1b[0;31m\\u001b[1m│ KFD009 ╰──")
	f.Add(strings.Repeat("upstream connect error ", 200))
	e, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a := e.Explain(text)
		certain := true
		for _, m := range a.Matches {
			if _, ok := kfd.Lookup(m.ID); !ok {
				t.Fatalf("named %q, no catalogue id", m.ID)
			}
			if m.Certain && !certain {
				t.Fatalf("a certain match after a possible one: %v", ids(a))
			}
			certain = m.Certain
			if !m.Certain && m.Why == "" {
				t.Fatalf("%s is possible without a why", m.ID)
			}
			if redact.Shapes(m.Evidence) != m.Evidence {
				t.Fatalf("evidence not masked: %q", m.Evidence)
			}
			if utf8.ValidString(text) && !utf8.ValidString(m.Evidence) {
				t.Fatalf("evidence cut inside a character: %q", m.Evidence)
			}
		}
		if len(a.Nearest) > 3 || (a.Matched() && len(a.Nearest) > 0) {
			t.Fatalf("nearest %v beside matches %v", a.Nearest, ids(a))
		}
	})
}
