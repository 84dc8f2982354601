// Command bench-cluster measures the kwok cluster the suites use: time from
// create to ready, time to delete, and the total resident memory of the
// cluster's processes, each the median of -n runs.
//
//	go run ./hack/bench-cluster [-n 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
)

type sample struct {
	ready, del time.Duration
	rss        int64
	procs      int
}

func main() {
	n := flag.Int("n", 5, "number of clusters to create, one after another")
	settle := flag.Duration("settle", 0, "wait this long after ready before measuring RSS (steady state rather than start-up)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "bench-cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, settle time.Duration) error {
	var samples []sample
	for i := range n {
		s, err := once(ctx, settle)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %d: ready %v, delete %v, RSS %d MB in %d processes\n",
			i+1, s.ready.Round(time.Millisecond), s.del.Round(time.Millisecond), s.rss>>20, s.procs)
		samples = append(samples, s)
	}
	med := func(key func(sample) int64) int64 {
		v := make([]int64, len(samples))
		for i, s := range samples {
			v[i] = key(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	ready := time.Duration(med(func(s sample) int64 { return int64(s.ready) }))
	del := time.Duration(med(func(s sample) int64 { return int64(s.del) }))
	rss := med(func(s sample) int64 { return s.rss })
	fmt.Printf("median of %d: create-to-ready %v (goal ≤ 10s), delete %v, RSS %d MB (goal ≤ 700 MB)\n",
		n, ready.Round(time.Millisecond), del.Round(time.Millisecond), rss>>20)
	how := fmt.Sprintf("median of %d; %s", n, benchline.Load())
	benchline.Print(benchline.Figure{Name: "cluster.kwok.ready", Title: "kwok cluster: create to ready", Value: ready.Seconds(), Unit: "s", Target: "<= 10", Detail: how})
	benchline.Print(benchline.Figure{Name: "cluster.kwok.delete", Title: "kwok cluster: delete", Value: del.Seconds(), Unit: "s", Detail: how})
	benchline.Print(benchline.Figure{Name: "cluster.kwok.rss", Title: "kwok cluster: memory (RSS of its processes)", Value: float64(rss >> 20), Unit: "MB", Target: "<= 700", Detail: how})
	return nil
}

// once creates a cluster, measures it (RSS after settle) and destroys it,
// also when interrupted.
func once(ctx context.Context, settle time.Duration) (s sample, err error) {
	k, err := kwok.New(kwok.Options{})
	if err != nil {
		return s, err
	}
	destroyed := false
	defer func() {
		if !destroyed {
			// ctx may be cancelled by the very signal we clean up after.
			if derr := k.Destroy(context.WithoutCancel(ctx)); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	start := time.Now()
	if err := k.Create(ctx); err != nil {
		return s, err
	}
	s.ready = time.Since(start)
	if settle > 0 {
		// Deliberately idle: the figure wanted is the steady-state footprint.
		select {
		case <-time.After(settle):
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
	list, err := procs.Mentioning(k.Workdir())
	if err != nil {
		return s, err
	}
	s.procs = len(list)
	if s.rss, err = procs.RSSBytes(list); err != nil {
		return s, err
	}
	start = time.Now()
	destroyed = true
	if err := k.Destroy(context.WithoutCancel(ctx)); err != nil {
		return s, err
	}
	s.del = time.Since(start)
	return s, nil
}
