package explain

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// corpus is the catalogue's words, for "nearest" when nothing matched.
//
// Nearest means: the ids whose own words (the catalogue's title, cause and
// fix, and the real texts the table holds) share the most distinctive words
// with the pasted text. Each shared word counts its inverse document
// frequency, ln(N/df) over the N ids, so a word only one id uses
// ("healthz", "poddefault") weighs far more than one many use ("token",
// "namespace"); words every id uses weigh nothing. A word an id's texts
// repeat counts a little more for it (× 1+ln(times)), which breaks ties
// between ids that merely mention a word and the one it is about. It is a hint of where to
// look, and the output says so.
type corpus struct {
	ids   []kfd.ID
	words map[kfd.ID]map[string]int
	idf   map[string]float64
	stop  map[string]bool
}

var reWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[a-z][a-z0-9_]*(?:[-.][a-z0-9_]+)*`) })

// stopWords carry no cause: English glue and the words of every traceback.
const stopWords = `the and for with from that this not but are was were has have had its into than then when
		what which will would could should can does did been being also only more most some such their there they them
		your you use used using one two all any out off per via over under after before again both each other same
		error errors failed fails failure file line lines self return returns call traceback recent last most
		http https response body headers reason status code message details true false none null kfp client python
		site-packages packages lib usr local opt conda api apis exception exceptions raise raised`

// tokens counts the words of s worth comparing.
func (c *corpus) tokens(s string) map[string]int {
	out := map[string]int{}
	for _, w := range reWord().FindAllString(strings.ToLower(s), -1) {
		if len(w) >= 4 && !c.stop[w] {
			out[w]++
		}
	}
	return out
}

func newCorpus(rules []compiledRule) *corpus {
	c := &corpus{words: map[kfd.ID]map[string]int{}, idf: map[string]float64{}, stop: map[string]bool{}}
	for _, w := range strings.Fields(stopWords) {
		c.stop[w] = true
	}
	df := map[string]int{}
	for _, r := range rules {
		e, _ := kfd.Lookup(r.ID)
		parts := []string{e.Title, e.Cause, e.Hint}
		for _, t := range kfd.TextsOf(r.ID) {
			parts = append(parts, Normalize(t.Body))
		}
		for _, p := range r.pats {
			if p.Doctor {
				parts = append(parts, p.Re)
			}
		}
		w := c.tokens(strings.Join(parts, " "))
		c.ids = append(c.ids, r.ID)
		c.words[r.ID] = w
		for t := range w {
			df[t]++
		}
	}
	n := float64(len(c.ids))
	for t, d := range df {
		c.idf[t] = math.Log(n / float64(d))
	}
	return c
}

// nearest returns up to k ids that share distinctive words with text, best
// first, each with the words it shares (rarest first, at most five).
func (c *corpus) nearest(text string, k int) []Near {
	in := c.tokens(text)
	var out []Near
	for _, id := range c.ids {
		var shared []string
		score := 0.0
		for t := range in {
			if n := c.words[id][t]; n > 0 && c.idf[t] > 0 {
				shared = append(shared, t)
				score += c.idf[t] * (1 + math.Log(float64(n)))
			}
		}
		if score == 0 {
			continue
		}
		sort.Slice(shared, func(i, j int) bool {
			if c.idf[shared[i]] != c.idf[shared[j]] {
				return c.idf[shared[i]] > c.idf[shared[j]]
			}
			return shared[i] < shared[j]
		})
		if len(shared) > 5 {
			shared = shared[:5]
		}
		e, _ := kfd.Lookup(id)
		out = append(out, Near{ID: id, Title: e.Title, Score: math.Round(score*100) / 100, Words: shared})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}
