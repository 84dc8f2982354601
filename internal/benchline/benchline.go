// Package benchline is the one machine-readable line every benchmark prints
// for each of its figures, and that `make bench` collects into one table
// (hack/bench-table):
//
//	BENCH {"name":"doctor.version","title":"kfp-doctor version, wall","value":6.8,"unit":"ms","target":"<= 10","detail":"median of 40"}
//
// A benchmark in another language prints the same line: the prefix "BENCH ",
// then one JSON object. A Go test may log it (t.Log(benchline.Line(f))): the
// test log's "file_test.go:NN: " before it is allowed. Fields: name (stable id, dotted, unique in a run),
// title (what the figure is, for the table), value and unit, target (an
// operator <=, <, >=, > and a number in the figure's unit; empty for a figure
// shown without a goal), detail (how it was measured: runs, load), and skip
// (why a figure could not be measured here; value is then ignored).
package benchline

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every benchmark line.
const Prefix = "BENCH "

// Figure is one measured figure.
type Figure struct {
	Name   string  `json:"name"`
	Title  string  `json:"title"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Detail string  `json:"detail,omitempty"`
	Skip   string  `json:"skip,omitempty"`
}

// Print writes f as a benchmark line to stdout.
func Print(f Figure) { Write(os.Stdout, f) }

// Write writes f as a benchmark line.
func Write(w io.Writer, f Figure) { fmt.Fprintln(w, Line(f)) }

// Line is f as a benchmark line, without the newline.
func Line(f Figure) string {
	if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
		f.Value = 0
		if f.Skip == "" {
			f.Skip = "no finite value"
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		// A Figure of strings and a finite float always marshals.
		panic(err)
	}
	return Prefix + string(b)
}

// Parse reads a benchmark line; ok is false for any other line.
func Parse(line string) (f Figure, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	i := strings.Index(line, Prefix+"{")
	if i < 0 || !testLogPrefix(line[:i]) {
		return f, false, nil
	}
	rest := line[i+len(Prefix):]
	if err := json.Unmarshal([]byte(rest), &f); err != nil {
		return f, true, fmt.Errorf("benchmark line %q: %w", line, err)
	}
	if f.Name == "" || f.Unit == "" {
		return f, true, fmt.Errorf("benchmark line %q: name and unit are required", line)
	}
	if _, _, err := ParseTarget(f.Target); err != nil {
		return f, true, fmt.Errorf("benchmark line %q: %w", line, err)
	}
	return f, true, nil
}

// ParseGoBench reads a line of `go test -bench` output ("BenchmarkX-2  20
// 70123456 ns/op  1.8 median-ms  4096 B/op …") as figures: its time per
// operation in ms (ns/op) and each metric the benchmark reported itself
// (b.ReportMetric), named pkg.BenchmarkX.unit; memory counts are left out.
// ok is false for any other line.
func ParseGoBench(pkg, line string) (figs []Figure, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return nil, false
	}
	runs, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, false
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i] // the GOMAXPROCS suffix
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, false
		}
		unit := f[i+1]
		fig := Figure{Name: pkg + "." + name + "." + unit, Title: pkg + " " + name, Detail: fmt.Sprintf("go test -bench, %d runs", runs)}
		switch {
		case unit == "ns/op":
			fig.Value, fig.Unit, fig.Title = v/1e6, "ms", fig.Title+", per run"
		case unit == "B/op" || unit == "allocs/op" || unit == "MB/s":
			continue
		default:
			u, _ := strings.CutSuffix(strings.TrimPrefix(unit, "median-"), "/op")
			fig.Value, fig.Unit, fig.Title = v, u, fig.Title+", "+unit
		}
		figs = append(figs, fig)
	}
	return figs, len(figs) > 0
}

// testLogPrefix: nothing, or what a Go test log puts before a line
// ("    corpus_test.go:99: ").
func testLogPrefix(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	file, lineNo, ok := strings.Cut(strings.TrimSuffix(s, ":"), ".go:")
	if !ok || file == "" || strings.ContainsAny(file, " \t") {
		return false
	}
	_, err := strconv.Atoi(lineNo)
	return err == nil
}

// ParseTarget splits "<= 10" into its operator and number; "" is no target.
func ParseTarget(t string) (op string, v float64, err error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return "", 0, nil
	}
	for _, o := range []string{"<=", ">=", "<", ">"} {
		if rest, ok := strings.CutPrefix(t, o); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return "", 0, fmt.Errorf("target %q: not a number after %s", t, o)
			}
			return o, v, nil
		}
	}
	return "", 0, fmt.Errorf("target %q: want <=, <, >= or > and a number", t)
}

// Met says whether f meets its target; known is false without one (or when
// f was skipped).
func (f Figure) Met() (met, known bool) {
	op, v, err := ParseTarget(f.Target)
	if err != nil || op == "" || f.Skip != "" {
		return false, false
	}
	switch op {
	case "<=":
		return f.Value <= v, true
	case "<":
		return f.Value < v, true
	case ">=":
		return f.Value >= v, true
	default:
		return f.Value > v, true
	}
}

// Median of durations (the upper one of an even count); 0 for none.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ms is d in milliseconds, for a figure's value.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Load is the machine's 1-minute load average and its CPU count, for a
// figure's detail: timings on a shared machine mean little without them.
func Load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return fmt.Sprintf("load %s on %d CPUs", f[0], runtime.NumCPU())
}
