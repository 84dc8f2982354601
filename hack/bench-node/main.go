// Command bench-node measures the node provider's real one-node cluster:
// time from create to ready (with each step), time from creating a pod of a
// locally built image to its Ready condition, time to delete, and the total
// resident memory of the cluster's processes, each the median of -n runs.
// Needs root, `make tools` and `make system-deps`.
//
//	go run ./hack/bench-node [-n 5] [-dns]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
)

type sample struct {
	ready, pod, del time.Duration
	rss             int64
	procs           int
}

func main() {
	n := flag.Int("n", 5, "number of clusters to create, one after another")
	dns := flag.Bool("dns", false, "add kube-dns (CoreDNS) and count it in create-to-ready")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *n, *dns)
	if errors.Is(err, node.ErrUnsupported) {
		// `make bench-cluster` runs this after the kwok numbers: a machine
		// without namespaces still gets those.
		fmt.Println("bench-node: skipped:", err)
		for _, f := range nodeFigures {
			f.Skip = err.Error()
			benchline.Print(f)
		}
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-node:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, dns bool) error {
	// The images are built once, before the first cluster: the clusters'
	// create-to-ready is what is measured.
	dir, err := os.MkdirTemp("", "bench-node-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tools, err := cluster.ToolsBinDir(os.Getenv)
	if err != nil {
		return err
	}
	imgs := &nodeimages.Builder{ToolsBin: tools, Dir: dir}
	archives, err := imgs.Node(ctx, dns)
	if err != nil {
		return err
	}
	probe, err := imgs.Probe(ctx)
	if err != nil {
		return err
	}
	archives = append(archives, probe)
	var samples []sample
	for i := range n {
		s, err := once(ctx, i+1, dns, archives)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %d: ready %v, pod start %v, delete %v, RSS %d MB in %d processes\n",
			i+1, s.ready.Round(time.Millisecond), s.pod.Round(time.Millisecond), s.del.Round(time.Millisecond), s.rss>>20, s.procs)
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
	d := func(key func(sample) time.Duration) time.Duration {
		return time.Duration(med(func(s sample) int64 { return int64(key(s)) })).Round(time.Millisecond)
	}
	ready, pod, del := d(func(s sample) time.Duration { return s.ready }), d(func(s sample) time.Duration { return s.pod }), d(func(s sample) time.Duration { return s.del })
	rss := med(func(s sample) int64 { return s.rss }) >> 20
	fmt.Printf("median of %d: create-to-ready %v, pod start %v, delete %v, RSS %d MB\n", n, ready, pod, del, rss)
	how := fmt.Sprintf("median of %d; %s", n, benchline.Load())
	for i, v := range []float64{ready.Seconds(), pod.Seconds(), del.Seconds(), float64(rss)} {
		f := nodeFigures[i]
		f.Value, f.Detail = v, how
		if dns && i == 0 {
			f.Title += ", CoreDNS included"
		}
		benchline.Print(f)
	}
	return nil
}

// nodeFigures are what a run prints, in order: create-to-ready, pod start,
// delete, RSS.
var nodeFigures = []benchline.Figure{
	{Name: "cluster.node.ready", Title: "node cluster: create to ready", Unit: "s"},
	{Name: "cluster.node.pod", Title: "node cluster: a pod of a local image to Ready", Unit: "s"},
	{Name: "cluster.node.delete", Title: "node cluster: delete", Unit: "s"},
	{Name: "cluster.node.rss", Title: "node cluster: memory (RSS of its processes)", Unit: "MB"},
}

// once creates a node cluster, starts one pod, measures, and destroys it,
// also when interrupted.
func once(ctx context.Context, run int, dns bool, archives []string) (s sample, err error) {
	k, err := node.New(node.Options{DNS: dns, ImageArchives: archives})
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
	for _, st := range k.Timings() {
		fmt.Printf("  run %d: %6.2fs %s\n", run, st.At.Seconds(), st.What)
	}

	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		return s, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "serve", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever,
			Args: []string{"serve", ":8080"},
		}}},
	}
	start = time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "bench", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return s, fmt.Errorf("pod bench not Ready: %w", err)
	}
	s.pod = time.Since(start)

	list, err := k.Processes()
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
