package kfd

import (
	"os"
	"strings"
	"testing"
)

// Every id the doctor can name must have its section in docs/failures.md,
// with the same title, or the doc link on a failure leads nowhere.
func TestEveryIDIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/failures.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	entries := All()
	if len(entries) < 28 {
		t.Fatalf("catalogue has %d entries", len(entries))
	}
	for _, e := range entries {
		if e.Title == "" || e.Cause == "" || e.Hint == "" {
			t.Errorf("%s is incomplete: %+v", e.ID, e)
		}
		section := "\n## " + string(e.ID) + "\n\n**" + e.Title + "**\n"
		if !strings.Contains(doc, section) {
			t.Errorf("docs/failures.md lacks the section for %s titled %q", e.ID, e.Title)
		}
		if want := DocBase + strings.ToLower(string(e.ID)); e.ID.Doc() != want {
			t.Errorf("%s links to %s", e.ID, e.ID.Doc())
		}
	}
	if !strings.Contains(doc, "\n## "+string(Unclassified)+"\n") {
		t.Error("docs/failures.md lacks the unclassified section")
	}
	if ID("").Doc() != "" {
		t.Error("the zero id has no doc")
	}
}
