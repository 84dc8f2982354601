package kfd

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/tools/txtar"
)

// None is the id of a text that is no KFP connection failure: `kfp-doctor
// explain` must not name an id for it.
const None ID = "none"

// Text is a real text that reveals a failure, with where it was found.
type Text struct {
	// ID is the id a maintainer, the thread or the recording settled on;
	// None for a text that is no KFP connection failure.
	ID ID
	// Source is where the text is from: the URL of a public thread, or a
	// kind and a name (recorded:FILE, measured:lab, go:PKG, …; texts.txtar
	// lists them).
	Source string
	// Note says why this id, when the text alone does not.
	Note string
	// Body is the text, as found.
	Body string
}

// Kind is what a text's source is: "tracker" (a public thread), "recorded"
// (a real KFP server's reply), "measured" (a real program run here), "lib"
// (a library's or Envoy's own message), "upstream" and "doc" (a project's
// source or documentation), or "shape" (not a real text: written here in
// the shape a product documents).
func (t Text) Kind() string {
	switch k, _, _ := strings.Cut(t.Source, ":"); k {
	case "https", "http":
		return "tracker"
	case "recorded", "measured", "upstream", "doc", "shape":
		return k
	case "go", "python", "envoy":
		return "lib"
	}
	return "unknown"
}

// Real reports whether the text was produced by something real, not
// written here.
func (t Text) Real() bool { return t.Kind() != "shape" && t.Kind() != "unknown" }

// Corpus reports whether the text is one a user pasted or a real KFP server
// sent: the corpus `kfp-doctor explain` is scored on.
func (t Text) Corpus() bool { return t.Kind() == "tracker" || t.Kind() == "recorded" }

//go:embed texts.txtar
var textsFile []byte

// textsOnce parses texts.txtar on first use.
var textsOnce = sync.OnceValues(func() ([]Text, error) { return ParseTexts(textsFile) })

// Texts returns every text of the catalogue, in the file's order. The file
// is embedded; a malformed one is a build defect the tests rule out, so an
// error here panics.
func Texts() []Text {
	t, err := textsOnce()
	if err != nil {
		panic(err)
	}
	return t
}

// TextsOf returns the texts of one id.
func TextsOf(id ID) []Text {
	var out []Text
	for _, t := range Texts() {
		if t.ID == id {
			out = append(out, t)
		}
	}
	return out
}

// ParseTexts reads texts in texts.txtar's form: one txtar file per text,
// named "ID SOURCE [NOTE…]".
func ParseTexts(data []byte) ([]Text, error) {
	a := txtar.Parse(data)
	out := make([]Text, 0, len(a.Files))
	for _, f := range a.Files {
		fields := strings.Fields(f.Name)
		if len(fields) < 2 {
			return nil, fmt.Errorf("texts: %q: want \"ID SOURCE [NOTE]\"", f.Name)
		}
		t := Text{ID: ID(fields[0]), Source: fields[1], Note: strings.Join(fields[2:], " "),
			Body: strings.TrimRight(string(f.Data), "\n")}
		if _, ok := Lookup(t.ID); !ok && t.ID != None {
			return nil, fmt.Errorf("texts: %q: %s is no catalogue id", f.Name, t.ID)
		}
		if t.Kind() == "unknown" {
			return nil, fmt.Errorf("texts: %q: source %q is of no known kind", f.Name, t.Source)
		}
		if strings.TrimSpace(t.Body) == "" {
			return nil, fmt.Errorf("texts: %q: empty text", f.Name)
		}
		out = append(out, t)
	}
	return out, nil
}
