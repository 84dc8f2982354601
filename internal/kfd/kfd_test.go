package kfd

import (
	"strings"
	"testing"
)

// Every id says what it is, which probes may name it (or why none can),
// and holds a real text that reveals it (or says why it holds none).
func TestEveryEntryIsComplete(t *testing.T) {
	entries := All()
	if len(entries) < 50 {
		t.Fatalf("catalogue has %d entries", len(entries))
	}
	for _, e := range entries {
		if e.Title == "" || e.Cause == "" || e.Hint == "" {
			t.Errorf("%s is incomplete: %+v", e.ID, e)
		}
		if (len(e.Probes) == 0) == (e.NoProbe == "") {
			t.Errorf("%s: name the probes that may name it, or say why none can (NoProbe), not both", e.ID)
		}
		real := 0
		for _, x := range TextsOf(e.ID) {
			if x.Real() {
				real++
			}
		}
		switch {
		case real == 0 && e.NoText == "":
			t.Errorf("%s has no real text in texts.txtar: add the text that reveals it, with its source, or say why there is none (NoText)", e.ID)
		case real > 0 && e.NoText != "":
			t.Errorf("%s holds %d real texts but says it has none: %q", e.ID, real, e.NoText)
		}
		if want := DocBase + strings.ToLower(string(e.ID)); e.ID.Doc() != want {
			t.Errorf("%s links to %s", e.ID, e.ID.Doc())
		}
	}
	if ID("").Doc() != "" {
		t.Error("the zero id has no doc")
	}
}

func TestTexts(t *testing.T) {
	texts := Texts()
	corpus, none := 0, 0
	for _, x := range texts {
		if x.Corpus() {
			corpus++
			if x.ID == None {
				none++
			}
		}
		if x.Kind() == "tracker" && !strings.HasPrefix(x.Source, "https://github.com/") {
			t.Errorf("a tracker text's source is its thread's URL: %q", x.Source)
		}
	}
	if corpus < 80 {
		t.Errorf("the corpus holds %d texts from public threads and recordings, want at least 80", corpus)
	}
	if none == 0 {
		t.Error("the corpus holds no text that is no KFP connection failure: explain's honest \"no match\" is never tried")
	}
}

func TestParseTexts(t *testing.T) {
	for _, bad := range []string{
		"-- KFD001 --\ntext\n",
		"-- KFD999 https://github.com/x/y/issues/1 --\ntext\n",
		"-- KFD001 ftp:somewhere --\ntext\n",
		"-- KFD001 https://github.com/x/y/issues/1 --\n\n",
	} {
		if _, err := ParseTexts([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	got, err := ParseTexts([]byte("comment\n-- none recorded:f.md a note here --\nbody\nline 2\n"))
	if err != nil || len(got) != 1 || got[0].ID != None || got[0].Note != "a note here" || got[0].Body != "body\nline 2" || !got[0].Corpus() {
		t.Errorf("%+v %v", got, err)
	}
}
