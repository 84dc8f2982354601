// Package failuresdoc writes docs/failures.md from the catalogue: each id's
// title, cause and fix (internal/kfd), the probes that may name it, the
// doctor's own words for it (quoted from the code that prints them), the
// phrases `kfp-doctor explain` recognises it by (internal/explain), and
// where its real texts were seen (internal/kfd/texts.txtar). The page is
// never edited by hand: a test fails when it differs from what Render
// writes, and go generate rewrites it.
package failuresdoc

//go:generate go test -run ^TestFailuresDocIsCurrent$ -update .

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/explain"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// Path is the page, from the repository's root.
const Path = "docs/failures.md"

const header = `# Failure catalogue

Every failure kfp-doctor reports carries one of these ids. This page is generated from the
catalogue (` + "`internal/kfd`" + `: entries and ` + "`texts.txtar`" + `; ` + "`internal/explain`" + `: the phrases) by
` + "`go generate ./internal/failuresdoc`" + `, and a test fails when it is stale: edit the catalogue, not
this page. KFD001–KFD024 are failures users report (shared/design/failure-catalogue.md lists where);
KFD025 and later are causes the doctor tells apart beyond those reports, and KFD056–KFD059 classes
users report that had no id before.

For each id: what it is and how to fix it; the doctor's probes that may name it; the doctor's own words
for it; the phrases ` + "`kfp-doctor explain`" + ` recognises in a pasted text (case-insensitive); and where its
real texts were seen: public threads (the id a maintainer settled on), replies a real KFP server sent
(recorded), and what real programs printed here (measured).
`

const maxPhrase = 120

// Render writes the page.
func Render() (string, error) {
	e, err := explain.New()
	if err != nil {
		return "", err
	}
	doctor := map[kfd.ID][]explain.DoctorPhrase{}
	for _, d := range explain.DoctorPhrases() {
		doctor[d.ID] = append(doctor[d.ID], d)
	}
	var b strings.Builder
	b.WriteString(header)
	for _, entry := range kfd.All() {
		fmt.Fprintf(&b, "\n## %s\n\n**%s**\n\n", entry.ID, entry.Title)
		fmt.Fprintf(&b, "- Cause: %s.\n", strings.TrimSuffix(entry.Cause, "."))
		fmt.Fprintf(&b, "- Fix: %s.\n", strings.TrimSuffix(entry.Hint, "."))
		for _, n := range entry.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if len(entry.Probes) > 0 {
			fmt.Fprintf(&b, "- Named by the doctor's probes: %s.\n", codes(entry.Probes))
		} else {
			fmt.Fprintf(&b, "- No probe of the doctor names it: %s.\n", entry.NoProbe)
		}
		if ds := doctor[entry.ID]; len(ds) > 0 {
			var parts []string
			for _, d := range ds {
				parts = append(parts, fmt.Sprintf("%s (%s)", code(d.Phrase), d.Where))
			}
			fmt.Fprintf(&b, "- The doctor's own words for it: %s.\n", strings.Join(parts, "; "))
		}
		if ps := e.Phrases(entry.ID); len(ps) > 0 {
			var parts []string
			for _, p := range ps {
				possibly := strings.HasSuffix(p, " (possibly)")
				p = strings.TrimSuffix(p, " (possibly)")
				if len([]rune(p)) > maxPhrase {
					p = string([]rune(p)[:maxPhrase]) + "…"
				}
				s := code(p)
				if possibly {
					s += " (possibly)"
				}
				parts = append(parts, s)
			}
			fmt.Fprintf(&b, "- Texts it matches (`kfp-doctor explain`): %s.\n", strings.Join(parts, "; "))
		}
		if seen := seenIn(kfd.TextsOf(entry.ID)); seen != "" {
			fmt.Fprintf(&b, "- Seen in: %s.\n", seen)
		}
		if entry.NoText != "" {
			fmt.Fprintf(&b, "- No real text of it is held: %s.\n", entry.NoText)
		}
	}
	b.WriteString(`
## unclassified

**A failure the catalogue does not know yet.**

- The doctor shows the status and the first bytes of the answer (` + "`-o json`" + ` has them under ` + "`evidence`" + `).
- If KFP or a proxy in front of it should have been understood, report it with that evidence (secrets are already masked).
`)
	return b.String(), nil
}

// seenIn lists where an id's texts come from: each public thread as a
// link, the other kinds counted.
func seenIn(texts []kfd.Text) string {
	var links []string
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, x := range texts {
		switch x.Kind() {
		case "tracker":
			if !seen[x.Source] {
				seen[x.Source] = true
				links = append(links, fmt.Sprintf("[%s](%s)", threadName(x.Source), x.Source))
			}
		default:
			kinds[x.Kind()]++
		}
	}
	names := map[string]string{"recorded": "a real KFP server's reply (recorded)", "measured": "a real program run here (measured)",
		"lib": "a library's or Envoy's own message", "upstream": "the project's source", "doc": "the project's documentation",
		"shape": "a text written here in a documented shape"}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		n := names[k]
		if kinds[k] > 1 {
			n = fmt.Sprintf("%s × %d", n, kinds[k])
		}
		links = append(links, n)
	}
	return strings.Join(links, ", ")
}

// threadName is "owner/repo#N" for a GitHub thread URL.
func threadName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	parts := strings.Split(strings.Trim(p.Path, "/"), "/")
	if len(parts) == 4 && (parts[2] == "issues" || parts[2] == "pull") {
		return parts[0] + "/" + parts[1] + "#" + parts[3]
	}
	return u
}

func codes(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = code(s)
	}
	return strings.Join(out, ", ")
}

// code quotes s as Markdown code, with a fence long enough for the
// backticks it holds.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}
