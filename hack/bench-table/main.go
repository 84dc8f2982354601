// Command bench-table prints the one table of `make bench`: every figure the
// benchmarks printed as benchmark lines (internal/benchline) into the logs of
// a run's directory — and every line of `go test -bench` output, shown
// without a target — with its target beside it, and the benchmarks that
// failed or printed nothing.
//
//	go run ./hack/bench-table [-markdown] [-strict] reports/bench
//
// The directory holds NAME.log (a benchmark's output) and NAME.rc (its exit
// code) for each benchmark, and a file "order" naming them in the order they
// ran, as hack/bench.sh leaves them. Exit code 1 when a benchmark failed or
// printed no figure (and, with -strict, when a figure misses its target);
// the table is printed either way.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
)

// bench is one benchmark's run: its figures and how it ended.
type bench struct {
	name    string
	figures []benchline.Figure
	rc      int
	errs    []string
}

func main() {
	markdown := flag.Bool("markdown", false, "write GitHub Markdown (for a step summary) instead of a text table")
	strict := flag.Bool("strict", false, "also exit 1 when a figure misses its target")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bench-table [-markdown] [-strict] DIR")
		os.Exit(2)
	}
	benches, err := read(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-table:", err)
		os.Exit(2)
	}
	ran, met := write(os.Stdout, benches, *markdown)
	if !ran || (*strict && !met) {
		os.Exit(1)
	}
}

// read collects the benchmarks of dir in the order they ran.
func read(dir string) ([]bench, error) {
	order, err := os.ReadFile(filepath.Join(dir, "order"))
	if err != nil {
		return nil, fmt.Errorf("%s has no run of make bench (no order file): %w", dir, err)
	}
	var out []bench
	seen := map[string]string{}
	for _, name := range strings.Fields(string(order)) {
		b := bench{name: name, rc: -1}
		if rc, err := os.ReadFile(filepath.Join(dir, name+".rc")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(rc))); err == nil {
				b.rc = n
			}
		}
		f, err := os.Open(filepath.Join(dir, name+".log"))
		if err != nil {
			b.errs = append(b.errs, err.Error())
			out = append(out, b)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		pkg := name // go test prints "pkg: …" before a package's benchmarks
		add := func(fig benchline.Figure) {
			if seen[fig.Name] != "" {
				b.errs = append(b.errs, fmt.Sprintf("figure %s printed again (first by %s)", fig.Name, seen[fig.Name]))
				return
			}
			seen[fig.Name] = name
			b.figures = append(b.figures, fig)
		}
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "pkg: "); ok {
				pkg = path.Base(strings.TrimSpace(p))
				continue
			}
			if figs, ok := benchline.ParseGoBench(pkg, line); ok {
				for _, fig := range figs {
					add(fig)
				}
				continue
			}
			fig, isBench, err := benchline.Parse(line)
			switch {
			case !isBench:
			case err != nil:
				b.errs = append(b.errs, err.Error())
			default:
				add(fig)
			}
		}
		if err := sc.Err(); err != nil {
			b.errs = append(b.errs, err.Error())
		}
		f.Close()
		out = append(out, b)
	}
	return out, nil
}

// write prints the table and reports whether every benchmark ran (exit 0,
// figures printed) and whether every figure with a target met it.
func write(w io.Writer, benches []bench, markdown bool) (ran, met bool) {
	ran, met = true, true
	type row struct{ title, value, target, verdict, detail string }
	var rows []row
	for _, b := range benches {
		for _, f := range b.figures {
			r := row{title: f.Title, target: targetText(f), detail: f.Detail}
			if r.title == "" {
				r.title = f.Name
			}
			hit, known := f.Met()
			switch {
			case f.Skip != "":
				r.value, r.verdict, r.detail = "—", "skipped", f.Skip
			case !known:
				r.value, r.verdict = valueText(f), ""
			case hit:
				r.value, r.verdict = valueText(f), "✔"
			default:
				r.value, r.verdict = valueText(f), "✖"
				met = false
			}
			rows = append(rows, r)
		}
		if b.rc != 0 || len(b.errs) > 0 || len(b.figures) == 0 {
			ran = false
			why := fmt.Sprintf("exit %d", b.rc)
			if b.rc == -1 {
				why = "did not finish"
			}
			if len(b.figures) == 0 {
				why += ", no figures"
			}
			if len(b.errs) > 0 {
				why += ": " + strings.Join(b.errs, "; ")
			}
			rows = append(rows, row{title: b.name, value: "—", verdict: "✖ failed", detail: why + " (log: " + b.name + ".log)"})
		}
	}
	if markdown {
		fmt.Fprintln(w, "| figure | measured | target | | how |")
		fmt.Fprintln(w, "|---|---:|---|---|---|")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", md(r.title), md(r.value), md(r.target), r.verdict, md(r.detail))
		}
		return ran, met
	}
	widths := [4]int{len("figure"), len("measured"), len("target"), 0}
	for _, r := range rows {
		for i, s := range []string{r.title, r.value, r.target, r.verdict} {
			widths[i] = max(widths[i], width(s))
		}
	}
	line := func(cells ...string) {
		var b strings.Builder
		for i, c := range cells[:4] {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-width(c)+2))
		}
		b.WriteString(cells[4])
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line("figure", "measured", "target", "", "how")
	for _, r := range rows {
		line(r.title, r.value, r.target, r.verdict, r.detail)
	}
	return ran, met
}

func targetText(f benchline.Figure) string {
	op, v, err := benchline.ParseTarget(f.Target)
	if err != nil || op == "" {
		return ""
	}
	sym := map[string]string{"<=": "≤", ">=": "≥", "<": "<", ">": ">"}[op]
	return sym + " " + number(v) + unitSuffix(f.Unit)
}

func valueText(f benchline.Figure) string { return number(f.Value) + unitSuffix(f.Unit) }

func unitSuffix(u string) string {
	if u == "×" || u == "%" {
		return u
	}
	return " " + u
}

// number prints a figure with the digits that mean something at its size.
func number(v float64) string {
	switch a := max(v, -v); {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func width(s string) int { return len([]rune(s)) }

func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
