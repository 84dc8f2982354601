package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxInput bounds what Read takes: a notebook cell's whole output fits many
// times over; more is not an error message.
const MaxInput = 1 << 20

// ErrTooLarge is returned for input over MaxInput.
var ErrTooLarge = fmt.Errorf("input over %d bytes: paste the error and the lines around it, not a whole log", MaxInput)

// Read takes at most limit bytes from r before ctx ends. A reader that
// blocks (a terminal no one types into, a FIFO no one writes) is abandoned
// at the deadline: the goroutine reading it ends with the process.
func Read(ctx context.Context, r io.Reader, limit int64) (string, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		done <- result{b, err}
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("no end of input before the deadline (end a paste with Ctrl-D, or pass --file): %w", ctx.Err())
	case res := <-done:
		if res.err != nil {
			return "", fmt.Errorf("reading the input: %w", res.err)
		}
		if int64(len(res.b)) > limit {
			return "", ErrTooLarge
		}
		if strings.TrimSpace(string(res.b)) == "" {
			return "", errors.New("the input is empty: paste the error (or the cell's output) on stdin, or pass --file")
		}
		return string(res.b), nil
	}
}

// JSON writes the answer as one JSON object (matches, nearest, facts).
func (a *Answer) JSON(w io.Writer) error {
	out := struct {
		Matched bool `json:"matched"`
		*Answer
		Nearness string `json:"nearest_by,omitempty"`
	}{Matched: a.Matched(), Answer: a}
	if out.Matches == nil {
		out.Matches = []Match{}
	}
	if !a.Matched() {
		out.Nearness = nearestBy
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

const nearestBy = "shared distinctive words: each word the text shares with an id's catalogue entry and real texts counts ln(ids/ids using it), so rare words weigh most"

// Text writes the answer for people.
func (a *Answer) Text(w io.Writer) error {
	var b strings.Builder
	if !a.Matched() {
		b.WriteString("no match: this text names no failure the catalogue knows.\n")
		if len(a.Nearest) > 0 {
			b.WriteString("\nNearest ids (not a diagnosis: by " + nearestBy + "):\n")
			for _, n := range a.Nearest {
				fmt.Fprintf(&b, "  %s  %s  (score %.2f; shared: %s)\n", n.ID, n.Title, n.Score, strings.Join(n.Words, ", "))
			}
		}
		b.WriteString("\nRun kfp-doctor against the endpoint to find the broken link: kfp-doctor --host <HOST> -n <NAMESPACE>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if len(a.Matches) > 1 {
		fmt.Fprintf(&b, "The text names %d failures, in the order it shows them.\n\n", len(a.Matches))
	}
	for i, m := range a.Matches {
		if i > 0 {
			b.WriteString("\n")
		}
		verdict := ""
		if !m.Certain {
			verdict = " (possible, not certain)"
		}
		fmt.Fprintf(&b, "%s  %s%s\n", m.ID, m.Title, verdict)
		fmt.Fprintf(&b, "  matched: %s\n", m.Evidence)
		if m.Why != "" {
			fmt.Fprintf(&b, "  but:     %s\n", m.Why)
		}
		fmt.Fprintf(&b, "  cause:   %s\n", m.Cause)
		fmt.Fprintf(&b, "  fix:     %s\n", m.Fix)
		if m.Fixable != "" {
			fmt.Fprintf(&b, "  yaml:    %s\n", m.Fixable)
		}
		fmt.Fprintf(&b, "  confirm: %s\n", m.Confirm)
		fmt.Fprintf(&b, "  doc:     %s\n", m.Doc)
	}
	if len(a.Facts) > 0 {
		var parts []string
		for _, k := range []string{"host", "namespace", "subject"} {
			if v := a.Facts[k]; v != "" {
				parts = append(parts, k+" "+v)
			}
		}
		fmt.Fprintf(&b, "\nFrom the text: %s (filled into the commands above).\n", strings.Join(parts, ", "))
	}
	if strings.Contains(b.String(), "<") {
		b.WriteString("Fill in the <PLACEHOLDERS> with your own values.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
