package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
)

// benchDir writes a run of make bench: logs with benchmark lines among other
// output, exit codes, and the order they ran in.
func benchDir(t *testing.T, logs map[string]string, rcs map[string]string, order ...string) string {
	t.Helper()
	dir := t.TempDir()
	for name, log := range logs {
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, rc := range rcs {
		if err := os.WriteFile(filepath.Join(dir, name+".rc"), []byte(rc+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "order"), []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func line(f benchline.Figure) string {
	var b bytes.Buffer
	benchline.Write(&b, f)
	return b.String()
}

func TestTableHasEveryFigureBesideItsTarget(t *testing.T) {
	dir := benchDir(t, map[string]string{
		"bench-doctor": "run 1: 7ms\n" +
			line(benchline.Figure{Name: "doctor.version", Title: "kfp-doctor version", Value: 6.84, Unit: "ms", Target: "<= 10", Detail: "median of 40"}) +
			line(benchline.Figure{Name: "doctor.ratio", Title: "SDK / doctor", Value: 41.2, Unit: "×", Target: ">= 30"}) +
			line(benchline.Figure{Name: "doctor.rss", Title: "doctor max RSS", Value: 31, Unit: "MB"}),
		"bench-node": line(benchline.Figure{Name: "node.ready", Title: "node create-to-ready", Value: 12.5, Unit: "s", Target: "<= 10"}) +
			line(benchline.Figure{Name: "node.pod", Title: "pod start", Unit: "s", Skip: "needs root"}),
	}, map[string]string{"bench-doctor": "0", "bench-node": "0"}, "bench-doctor", "bench-node")
	benches, err := read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ran, met := write(&out, benches, false)
	if !ran || met {
		t.Fatalf("ran %t met %t, want a run with one missed target:\n%s", ran, met, out.String())
	}
	for _, want := range []string{
		"kfp-doctor version    6.84 ms   ≤ 10 ms  ✔        median of 40",
		"SDK / doctor          41.2×     ≥ 30×    ✔",
		"doctor max RSS        31 MB",
		"node create-to-ready  12.5 s    ≤ 10 s   ✖",
		"pod start             —                  skipped  needs root",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	write(&out, benches, true)
	if !strings.Contains(out.String(), "| kfp-doctor version | 6.84 ms | ≤ 10 ms | ✔ | median of 40 |") {
		t.Errorf("markdown:\n%s", out.String())
	}
}

// A benchmark that crashed, printed nothing, printed a bad line or a figure
// another already printed is a failed row, and the run did not complete.
func TestFailedBenchmarksAreRowsToo(t *testing.T) {
	dir := benchDir(t, map[string]string{
		"bench-a": line(benchline.Figure{Name: "a", Value: 1, Unit: "s"}),
		"bench-b": "panic: boom\n",
		"bench-c": "BENCH {not json\n" + line(benchline.Figure{Name: "a", Value: 2, Unit: "s"}),
	}, map[string]string{"bench-a": "0", "bench-b": "2", "bench-c": "0"}, "bench-a", "bench-b", "bench-c", "bench-d")
	benches, err := read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ran, _ := write(&out, benches, false)
	if ran {
		t.Fatalf("a run with failed benchmarks counted as complete:\n%s", out.String())
	}
	for _, want := range []string{"bench-b", "exit 2, no figures", "bench-c", "printed again (first by bench-a)", "bench-d", "did not finish"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRejectsWhatTheTableCannotShow(t *testing.T) {
	for _, bad := range []string{
		`BENCH {"name":"x","value":1}`,
		`BENCH {"name":"x","value":1,"unit":"ms","target":"about 10"}`,
		`BENCH {"unit":"ms","value":1}`,
	} {
		if _, isBench, err := benchline.Parse(bad); !isBench || err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if _, isBench, _ := benchline.Parse("ordinary output"); isBench {
		t.Error("an ordinary line was taken for a benchmark line")
	}
}

// go test -bench output joins the table as it is, named after its package.
func TestGoBenchmarksAreCollected(t *testing.T) {
	dir := benchDir(t, map[string]string{
		"bench-sandbox": "goos: linux\npkg: github.com/kfp-connect/kfp-connect/internal/lab/sandbox\n" +
			"BenchmarkStartToServing-2   \t      20\t  70123456 ns/op\n PASS\n",
	}, map[string]string{"bench-sandbox": "0"}, "bench-sandbox")
	benches, err := read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if ran, _ := write(&out, benches, false); !ran || !strings.Contains(out.String(), "sandbox BenchmarkStartToServing, per run  70.1 ms") {
		t.Fatalf("ran %t:\n%s", ran, out.String())
	}
}
