// Package explain maps a pasted error — a KFP reply, a Python traceback, a
// notebook cell's whole output, or a kfp-doctor report — to the failure
// catalogue's ids, offline. The matching is data (table.go): per id, the
// phrases that name it, case-insensitive, each shown by a real text of the
// catalogue (internal/kfd's texts.txtar) or quoted from the doctor's code
// that prints it (doctor.go). Text that names no id gets "no match" and the
// nearest ids by shared distinctive words (nearest.go), never a guess
// dressed as an answer.
//
// When a text names several ids they are ranked as a maintainer reads them:
// a certain match before a possible one, a cause before what it causes, the
// server's own words before a proxy's or a library's, those before a bare
// status line, and then in the order the text shows them.
package explain

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// How specific a phrase is: the weight a match ranks by.
const (
	// wordsStatus is a status line or an answer's shape, true of many
	// causes ("(500) Internal Server Error", an empty list): it gives way
	// to anything more specific in the same text.
	wordsStatus = 1
	// wordsLibrary is a library's, a proxy's or the SDK's own words about
	// what it met (urllib3, Envoy, getaddrinfo).
	wordsLibrary = 2
	// wordsServer is the words of the server that decided (KFP, Dex,
	// oauth2-proxy, IAP) or of the doctor naming the cause.
	wordsServer = 3
)

// pattern is one phrase that names an id. Possible marks a phrase that fits
// the id but also fits a harmless case; Why says which, to the user.
type pattern struct {
	Re       string
	Unless   string // a match that also matches this is not one
	Possible bool
	Why      string
	// Weight is how specific the phrase is (wordsStatus…wordsServer);
	// zero means wordsLibrary.
	Weight int
	// Generic marks a phrase any client or proxy says, not only on the way
	// to KFP (a refused connection, Envoy's 503): in a text that shows no
	// sign of KFP it is only a possible match.
	Generic bool
	// Doctor marks a phrase quoted from the doctor's own code (doctor.go).
	Doctor bool
}

type rule struct {
	ID         kfd.ID
	Patterns   []pattern
	Supersedes []kfd.ID // ids whose phrases this one's texts contain: dropped when this matches
	Causes     []kfd.ID // ids this one leads to: ranked after it when both are named
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
	rules := table()
	for _, d := range DoctorPhrases() {
		i := ruleIndex(rules, d.ID)
		if i < 0 {
			return nil, fmt.Errorf("explain: the doctor's phrase %q names %s, which has no rule", d.Phrase, d.ID)
		}
		rules[i].Patterns = append(rules[i].Patterns, pattern{Re: d.re(), Weight: wordsServer, Doctor: true})
	}
	for _, r := range rules {
		if _, ok := kfd.Lookup(r.ID); !ok {
			return nil, fmt.Errorf("explain table: %s is not a catalogue id", r.ID)
		}
		if _, dup := e.byID[r.ID]; dup {
			return nil, fmt.Errorf("explain table: %s has two rules", r.ID)
		}
		cr := compiledRule{rule: r}
		for _, p := range r.Patterns {
			if p.Weight == 0 {
				p.Weight = wordsLibrary
			}
			re, err := regexp.Compile("(?i)" + p.Re)
			if err != nil {
				return nil, fmt.Errorf("explain table: %s pattern %q: %w", r.ID, p.Re, err)
			}
			c := compiled{re: re, pattern: p}
			if p.Unless != "" {
				if c.unless, err = regexp.Compile("(?i)" + p.Unless); err != nil {
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

func ruleIndex(rules []rule, id kfd.ID) int {
	for i, r := range rules {
		if r.ID == id {
			return i
		}
	}
	return -1
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
	weight   int
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

// Certain reports whether the first id is named for certain.
func (a *Answer) Certain() bool { return a.Matched() && a.Matches[0].Certain }

// whyNoKFP is what a generic phrase means in a text that shows no sign of
// KFP.
const whyNoKFP = "nothing in the text shows a KFP call (no kfp, kubeflow, ml-pipeline or /apis/ path): any client that meets this says the same"

// Explain reads text. It never fails: text it cannot place is an Answer
// with no matches and the nearest ids.
func (e *Explainer) Explain(text string) *Answer {
	norm := Normalize(text)
	kfpText := regexps().kfp.MatchString(norm)
	found := map[kfd.ID]*Match{}
	for _, r := range e.rules {
		for _, p := range r.pats {
			loc := firstMatch(norm, p)
			if loc == nil {
				continue
			}
			certain, why := !p.Possible, p.Why
			if certain && p.Generic && !kfpText {
				certain, why = false, whyNoKFP
			}
			m := found[r.ID]
			if m == nil {
				m = e.newMatch(r, norm, loc)
				m.weight = p.Weight
				found[r.ID] = m
			}
			switch {
			case certain && !m.Certain:
				// A certain phrase outranks a possible one of the same id.
				m.Certain, m.Why, m.offset, m.weight, m.Evidence = true, "", loc[0], p.Weight, excerpt(norm, loc)
			case certain == m.Certain && p.Weight > m.weight:
				m.weight = p.Weight
			}
			if !m.Certain && m.Why == "" {
				m.Why = why
			}
		}
	}
	// A report of kfp-doctor names its ids outright.
	for _, loc := range regexps().namedID.FindAllStringIndex(norm, -1) {
		id := kfd.ID(strings.ToUpper(norm[loc[0]:loc[1]]))
		i, ok := e.byID[id]
		if !ok {
			continue
		}
		if found[id] == nil {
			m := e.newMatch(e.rules[i], norm, loc)
			m.Certain, m.Named, m.weight = true, true, wordsServer
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
	// A bare status line gives way to the specific words beside it: a 500
	// whose body says "there is no user identity header" is KFD001, not a
	// server failure.
	specific := false
	for _, m := range found {
		if m.Certain && m.weight > wordsStatus {
			specific = true
		}
	}
	for id, m := range found {
		if specific && m.weight == wordsStatus && !m.Named {
			delete(found, id)
		}
	}
	a := &Answer{Facts: facts(norm)}
	for _, m := range found {
		a.Matches = append(a.Matches, *m)
	}
	e.rank(a.Matches)
	for i := range a.Matches {
		a.Matches[i].Confirm = fill(a.Matches[i].Confirm, a.Facts)
		a.Matches[i].Fixable = fill(a.Matches[i].Fixable, a.Facts)
	}
	if len(a.Matches) == 0 {
		a.Nearest = e.corpus.nearest(norm, 3)
	}
	return a
}

// rank orders matches: certain first, then the more specific words, then
// the text's own order; and a cause before what it causes.
func (e *Explainer) rank(ms []Match) {
	sort.SliceStable(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		switch {
		case a.Certain != b.Certain:
			return a.Certain
		case a.weight != b.weight:
			return a.weight > b.weight
		case a.offset != b.offset:
			return a.offset < b.offset
		}
		return a.ID < b.ID
	})
	// Move each cause in front of the first of its effects it follows.
	for moved := true; moved; {
		moved = false
		for i := range ms {
			for j := 0; j < i; j++ {
				if ms[i].Certain == ms[j].Certain && e.causes(ms[i].ID, ms[j].ID) {
					c := ms[i]
					copy(ms[j+1:i+1], ms[j:i])
					ms[j] = c
					moved = true
					break
				}
			}
		}
	}
}

func (e *Explainer) causes(cause, effect kfd.ID) bool {
	i, ok := e.byID[cause]
	if !ok {
		return false
	}
	for _, c := range e.rules[i].Causes {
		if c == effect {
			return true
		}
	}
	return false
}

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

// patterns are the package's fixed expressions, compiled on first use:
// kfp-doctor's other commands never pay for them.
type patterns struct {
	ansi, box, space, namedID, kfp *regexp.Regexp
}

var regexps = sync.OnceValue(func() *patterns {
	return &patterns{
		// Colour codes, raw (a terminal's) and escaped (an .ipynb file's JSON).
		ansi: regexp.MustCompile(`(\x1b|\\u001b|\\x1b|\\033)\[[0-9;]*[A-Za-z]`),
		// Box drawing of rich tracebacks (│ ╭ ╰ ─ ❱) cuts phrases in two.
		box:     regexp.MustCompile(`[\x{2500}-\x{257F}\x{2771}]+`),
		space:   regexp.MustCompile(`\s+`),
		namedID: regexp.MustCompile(`(?i)\bKFD0\d\d\b`),
		// Signs that a text is about KFP: the SDK, its server, its paths,
		// Kubeflow's login programs.
		kfp: regexp.MustCompile(`(?i)\bkfp\b|kfp_server_api|kubeflow|ml-pipeline|/apis/v[12]beta1/|/pipeline/|pipelines\.kubeflow\.org|KF_PIPELINES|\bdex\b|oauth2[-_]proxy|authservice|istio|\bkale\b|elyra`),
	}
})

// Normalize turns a pasted text into one line to match on: colour codes,
// JSON string escapes (a notebook file holds its outputs as JSON strings)
// and a traceback's box drawing removed, white space collapsed.
func Normalize(text string) string {
	r := regexps()
	s := r.ansi.ReplaceAllString(text, "")
	s = strings.NewReplacer(`\n`, " ", `\t`, " ", `\"`, `"`, `\'`, `'`, `\u0026`, "&").Replace(s)
	s = r.box.ReplaceAllString(s, " ")
	return strings.TrimSpace(r.space.ReplaceAllString(s, " "))
}

// Phrases are the phrases explain recognises an id by, each as the first
// text of the catalogue that shows it spells it (a real text before one
// written here), and "(possibly)" after a phrase that is only a possible
// match; the doctor's own phrases are not among them (DoctorPhrases).
func (e *Explainer) Phrases(id kfd.ID) []string {
	i, ok := e.byID[id]
	if !ok {
		return nil
	}
	texts := kfd.TextsOf(id)
	sort.SliceStable(texts, func(a, b int) bool { return texts[a].Real() && !texts[b].Real() })
	var out []string
	for _, p := range e.rules[i].pats {
		if p.Doctor {
			continue
		}
		for _, x := range texts {
			norm := Normalize(x.Body)
			if loc := firstMatch(norm, p); loc != nil {
				ph := norm[loc[0]:loc[1]]
				if p.Possible {
					ph += " (possibly)"
				}
				out = append(out, ph)
				break
			}
		}
	}
	return out
}
