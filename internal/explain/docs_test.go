package explain

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

var update = flag.Bool("update", false, "rewrite the \"Texts it matches\" lines of docs/failures.md from the table")

const docsPath = "../../docs/failures.md"

// textsLine is the docs line for an id: for each pattern, the phrase as the
// first real text that shows it spells it.
func textsLine(r compiledRule) string {
	var phrases []string
	for _, p := range r.pats {
		for _, ex := range r.Examples {
			if loc := firstMatch(Normalize(ex.Text), p); loc != nil {
				ph := "`" + strings.ReplaceAll(Normalize(ex.Text)[loc[0]:loc[1]], "`", "'") + "`"
				if p.Possible {
					ph += " (possibly)"
				}
				phrases = append(phrases, ph)
				break
			}
		}
	}
	return "- Texts it matches (`kfp-doctor explain`): " + strings.Join(phrases, "; ") + "."
}

// docs/failures.md shows under each id the texts explain matches, taken
// from the table; `go test ./internal/explain -run TestDocsShowTheTexts
// -update` rewrites them.
func TestDocsShowTheTexts(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	e := newExplainer(t)
	lines := strings.Split(string(b), "\n")
	var out []string
	section := kfd.ID("")
	seen := map[kfd.ID]bool{}
	for _, l := range lines {
		if strings.HasPrefix(l, "## ") {
			section = kfd.ID(strings.TrimPrefix(l, "## "))
		}
		i, known := e.byID[section]
		if strings.HasPrefix(l, "- Texts it matches") && known {
			if want := textsLine(e.rules[i]); l != want {
				if !*update {
					t.Errorf("docs/failures.md, %s:\n got %s\nwant %s\n(run go test ./internal/explain -run TestDocsShowTheTexts -update)", section, l, want)
				}
				l = want
			}
			seen[section] = true
		}
		out = append(out, l)
		if strings.HasPrefix(l, "- Fix:") && known && *update && !seen[section] && !hasTextsLine(lines, section) {
			out = append(out, textsLine(e.rules[i]))
			seen[section] = true
		}
	}
	for _, entry := range kfd.All() {
		if !seen[entry.ID] {
			t.Errorf("docs/failures.md: %s has no \"Texts it matches\" line (run with -update)", entry.ID)
		}
	}
	if *update {
		if err := os.WriteFile(docsPath, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func hasTextsLine(lines []string, id kfd.ID) bool {
	in := false
	for _, l := range lines {
		if strings.HasPrefix(l, "## ") {
			in = strings.TrimPrefix(l, "## ") == string(id)
		}
		if in && strings.HasPrefix(l, "- Texts it matches") {
			return true
		}
	}
	return false
}
