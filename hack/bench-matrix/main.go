// Command bench-matrix measures the conformance matrix's wall time on each
// provider: it runs `make conformance PROVIDER=p` (the race detector where
// the Makefile asks for it) and reads the suite's Ginkgo report, or, with
// -from, reads the reports a run such as `make test` just left.
//
//	go run ./hack/bench-matrix [-providers kwok,node] [-from reports]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
)

// targets are issue 23's wall times per provider, in seconds.
var targets = map[string]string{"kwok": "<= 45", "node": "<= 240"}

func main() {
	providers := flag.String("providers", "kwok,node", "comma-separated providers to measure")
	from := flag.String("from", "", "read the reports in this directory instead of running the matrix")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := false
	for _, p := range strings.Split(*providers, ",") {
		f, err := measure(ctx, p, *from)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-matrix: %s: %v\n", p, err)
			failed = true
			continue
		}
		benchline.Print(f)
	}
	if failed {
		os.Exit(1)
	}
}

func measure(ctx context.Context, provider, from string) (benchline.Figure, error) {
	f := benchline.Figure{Name: "matrix." + provider, Title: "conformance matrix on " + provider + " (whole suite, wall)", Unit: "s", Target: targets[provider]}
	dir, how := from, "from the reports of this run"
	if from == "" {
		dir, how = "reports", "make conformance PROVIDER="+provider
		start := time.Now()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "conformance", "PROVIDER="+provider)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		how += fmt.Sprintf(" (%v with compiling)", time.Since(start).Round(time.Second))
		if err != nil {
			// A red matrix still has a wall time; the report says what failed.
			how += fmt.Sprintf(", which failed: %v", err)
		}
	}
	name := "conformance"
	if provider != "kwok" {
		name += "-" + provider
	}
	path := filepath.Join(dir, name+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f.Skip = "no report " + path + " (the suite did not run here)"
		return f, nil
	}
	if err != nil {
		return f, err
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil || len(reports) == 0 {
		return f, fmt.Errorf("%s: not a Ginkgo JSON report: %v", path, err)
	}
	r := reports[0]
	counts := map[types.SpecState]int{}
	for _, s := range r.SpecReports {
		if s.LeafNodeType == types.NodeTypeIt {
			counts[s.State]++
		}
	}
	f.Value = r.RunTime.Seconds()
	f.Detail = fmt.Sprintf("%s; %d cases: %d passed, %d failed, %d skipped; %s", how,
		counts[types.SpecStatePassed]+counts[types.SpecStateFailed]+counts[types.SpecStateSkipped]+counts[types.SpecStatePending],
		counts[types.SpecStatePassed], counts[types.SpecStateFailed], counts[types.SpecStateSkipped], benchline.Load())
	if !r.SuiteSucceeded {
		f.Detail += "; THE SUITE FAILED"
	}
	return f, nil
}
