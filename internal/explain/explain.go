// Package explain maps a pasted error — a KFP reply, a Python traceback, a
// notebook cell's whole output, or a kfp-doctor report — to the failure
// catalogue's ids, offline. The matching is data (table.go): per id, the
// phrases that name it, each taken from a real error text that the tests
// replay. Text that names no id gets "no match" and the nearest ids by shared
// distinctive words (nearest.go), never a guess dressed as an answer.
package explain

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Example is a real error text a rule was written from, and where it is from.
type Example struct {
	Text   string
	Source string
}

// pattern is one phrase that names an id. Possible marks a phrase that fits
// the id but also fits a harmless case; Why says which, to the user.
type pattern struct {
	Re       string
	Unless   string // a match that also matches this is not one
	Possible bool
	Why      string
}

type rule struct {
	ID         kfd.ID
	Patterns   []pattern
	Examples   []Example
	Supersedes []kfd.ID // ids whose phrases this one's texts contain: dropped when this matches
	Confirm    string   // the doctor command that confirms the diagnosis
}

type compiled struct {
	re, unless *regexp.Regexp
	pattern
}

type compiledRule struct {
	rule
	pats []compiled
}

// Explainer holds the compiled table; it is immutable and safe for
// concurrent use.
type Explainer struct {
	rules  []compiledRule
	byID   map[kfd.ID]int
	corpus *corpus
}

// New compiles the table. It fails only on a broken table, which the tests
// rule out.
func New() (*Explainer, error) {
	e := &Explainer{byID: map[kfd.ID]int{}}
	for _, r := range table() {
		if _, ok := kfd.Lookup(r.ID); !ok {
			return nil, fmt.Errorf("explain table: %s is not a catalogue id", r.ID)
		}
		if _, dup := e.byID[r.ID]; dup {
			return nil, fmt.Errorf("explain table: %s has two rules", r.ID)
		}
		cr := compiledRule{rule: r}
		for _, p := range r.Patterns {
			re, err := regexp.Compile(p.Re)
			if err != nil {
				return nil, fmt.Errorf("explain table: %s pattern %q: %w", r.ID, p.Re, err)
			}
			c := compiled{re: re, pattern: p}
			if p.Unless != "" {
				if c.unless, err = regexp.Compile(p.Unless); err != nil {
					return nil, fmt.Errorf("explain table: %s pattern %q: %w", r.ID, p.Unless, err)
				}
			}
			cr.pats = append(cr.pats, c)
		}
		e.byID[r.ID] = len(e.rules)
		e.rules = append(e.rules, cr)
	}
	e.corpus = newCorpus(e.rules)
	return e, nil
}

// Match is one catalogue id the text names.
type Match struct {
	ID       kfd.ID `json:"id"`
	Title    string `json:"title"`
	Cause    string `json:"cause"`
	Fix      string `json:"fix"`
	Doc      string `json:"doc"`
	Certain  bool   `json:"certain"`
	Why      string `json:"why,omitempty"`     // when not certain: what else the text can mean
	Evidence string `json:"evidence"`          // the part of the text that matched, redacted
	Named    bool   `json:"named,omitempty"`   // the text names the id itself (a kfp-doctor report)
	Confirm  string `json:"confirm"`           // the doctor command that confirms it
	Fixable  string `json:"fixable,omitempty"` // a kfp-doctor fix command, for the ids it mends
	offset   int
}

// Near is a catalogue id close to an unmatched text.
type Near struct {
	ID    kfd.ID   `json:"id"`
	Title string   `json:"title"`
	Score float64  `json:"score"`
	Words []string `json:"shared_words"`
}

// Answer is what a text explains to.
type Answer struct {
	Matches []Match           `json:"matches"`
	Nearest []Near            `json:"nearest,omitempty"`
	Facts   map[string]string `json:"facts,omitempty"` // host, namespace, subject the text names
}

// Matched reports whether any id was named.
func (a *Answer) Matched() bool { return len(a.Matches) > 0 }

// Explain reads text. It never fails: text it cannot place is an Answer
// with no matches and the nearest ids.
func (e *Explainer) Explain(text string) *Answer {
	norm := Normalize(text)
	found := map[kfd.ID]*Match{}
	for _, r := range e.rules {
		for _, p := range r.pats {
			loc := firstMatch(norm, p)
			if loc == nil {
				continue
			}
			m := found[r.ID]
			if m == nil {
				m = e.newMatch(r, norm, loc)
				found[r.ID] = m
			}
			if !p.Possible && !m.Certain {
				// A certain phrase outranks a possible one of the same id.
				m.Certain, m.Why, m.offset, m.Evidence = true, "", loc[0], excerpt(norm, loc)
			}
			if !m.Certain && m.Why == "" {
				m.Why = p.Why
			}
		}
	}
	// A report of kfp-doctor names its ids outright.
	for _, loc := range reNamedID.FindAllStringIndex(norm, -1) {
		id := kfd.ID(norm[loc[0]:loc[1]])
		i, ok := e.byID[id]
		if !ok {
			continue
		}
		if found[id] == nil {
			m := e.newMatch(e.rules[i], norm, loc)
			m.Certain, m.Named = true, true
			found[id] = m
		}
	}
	for id, m := range found {
		for _, s := range e.rules[e.byID[id]].Supersedes {
			if o := found[s]; o != nil && !o.Named && (m.Certain || !o.Certain) {
				delete(found, s)
			}
		}
	}
	a := &Answer{Facts: facts(norm)}
	for _, m := range found {
		a.Matches = append(a.Matches, *m)
	}
	// In the order the text shows them: a traceback reads top to bottom.
	sort.Slice(a.Matches, func(i, j int) bool {
		if a.Matches[i].offset != a.Matches[j].offset {
			return a.Matches[i].offset < a.Matches[j].offset
		}
		return a.Matches[i].ID < a.Matches[j].ID
	})
	for i := range a.Matches {
		a.Matches[i].Confirm = fill(a.Matches[i].Confirm, a.Facts)
		a.Matches[i].Fixable = fill(a.Matches[i].Fixable, a.Facts)
	}
	if len(a.Matches) == 0 {
		a.Nearest = e.corpus.nearest(norm, 3)
	}
	return a
}

var reNamedID = regexp.MustCompile(`KFD0\d\d`)

func firstMatch(norm string, p compiled) []int {
	for _, loc := range p.re.FindAllStringIndex(norm, -1) {
		if p.unless == nil || !p.unless.MatchString(norm[loc[0]:loc[1]]) {
			return loc
		}
	}
	return nil
}

func (e *Explainer) newMatch(r compiledRule, norm string, loc []int) *Match {
	entry, _ := kfd.Lookup(r.ID)
	return &Match{
		ID: r.ID, Title: entry.Title, Cause: entry.Cause, Fix: entry.Hint, Doc: r.ID.Doc(),
		Evidence: excerpt(norm, loc), Confirm: r.Confirm, Fixable: fixCommand(r.ID), offset: loc[0],
	}
}

// fixCommand is the kfp-doctor fix call for the ids it writes YAML for.
func fixCommand(id kfd.ID) string {
	switch id {
	case kfd.RBACDenied:
		return "kfp-doctor fix KFD009 -n <NAMESPACE> --subject <SUBJECT>"
	case kfd.NoTokenFile:
		return "kfp-doctor fix KFD004 -n <NAMESPACE>"
	case kfd.TokenAudience:
		return "kfp-doctor fix KFD003 -n <NAMESPACE> --token-file <TOKEN_FILE>"
	}
	return ""
}

// excerpt is the matched phrase with some context, secrets masked.
func excerpt(norm string, loc []int) string {
	const around = 60
	start, end := max(0, loc[0]-around), min(len(norm), loc[1]+around)
	for start > 0 && !utf8Start(norm[start]) {
		start--
	}
	for end < len(norm) && !utf8Start(norm[end]) {
		end++
	}
	s := norm[start:end]
	if start > 0 {
		s = "…" + s
	}
	if end < len(norm) {
		s += "…"
	}
	return redact.Shapes(s)
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

var (
	// Colour codes, raw (a terminal's) and escaped (an .ipynb file's JSON).
	reANSI = regexp.MustCompile(`(\x1b|\\u001b|\\x1b|\\033)\[[0-9;]*[A-Za-z]`)
	// Box drawing of rich tracebacks (│ ╭ ╰ ─ ❱) cuts phrases in two.
	reBox   = regexp.MustCompile(`[\x{2500}-\x{257F}\x{2771}]+`)
	reSpace = regexp.MustCompile(`\s+`)
)

// Normalize turns a pasted text into one line to match on: colour codes,
// JSON string escapes (a notebook file holds its outputs as JSON strings)
// and a traceback's box drawing removed, white space collapsed.
func Normalize(text string) string {
	s := reANSI.ReplaceAllString(text, "")
	s = strings.NewReplacer(`\n`, " ", `\t`, " ", `\"`, `"`, `\'`, `'`).Replace(s)
	s = reBox.ReplaceAllString(s, " ")
	return strings.TrimSpace(reSpace.ReplaceAllString(s, " "))
}
