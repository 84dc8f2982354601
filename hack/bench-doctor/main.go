// Command bench-doctor measures what a kfp-doctor user waits for, as
// processes from exec to exit, and the real kfp SDK 2.17.0 doing the same in
// the same run, runs of the two interleaved:
//
//   - start-up: `kfp-doctor version`, wall and CPU;
//   - a healthy multi-user diagnosis on the lab: `kfp-doctor --host URL -n
//     PROFILE --token-file T` against kfp.Client(host=URL, namespace=PROFILE,
//     existing_token=T).list_experiments(namespace=PROFILE);
//   - a failing one: the same without a token, KFP's 401 (KFD001) against
//     the SDK's ApiException;
//   - an endpoint that accepts connections and never answers: the doctor
//     with --timeout must answer within it; the SDK, which sets no timeout,
//     is still waiting when the cap ends it.
//
// The lab is the multi-user fixtures on kwok with their programs, its UI
// port-forwarded as `kubectl port-forward svc/ml-pipeline-ui` would be. Needs
// `make tools build`; the SDK rows are skipped, with the reason, where the
// SDK (../shared/upstream/kfp-sdk-2.17.0, or $KFP_CONNECT_SDK) or a python3
// is not there (internal/sdkrun finds both, as the suites do).
//
//	go run ./hack/bench-doctor [-n 21] [-doctor bin/kfp-doctor]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kfp-connect/kfp-connect/hack/internal/benchlab"
	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
)

// Targets of issue 23: where users wait.
const (
	targetVersion = "<= 10" // ms, kfp-doctor version
	targetHealthy = "<= 40" // ms, a healthy --host diagnosis on the lab
	targetRatio   = ">= 30" // ×, the SDK's time over the doctor's
	blackholeWait = 2 * time.Second
	sdkCap        = 10 * time.Second
)

func main() {
	n := flag.Int("n", 21, "runs of each measurement")
	doctor := flag.String("doctor", "bin/kfp-doctor", "the kfp-doctor binary (make build)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *doctor); err != nil {
		fmt.Fprintln(os.Stderr, "bench-doctor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, doctor string) (err error) {
	if doctor, err = filepath.Abs(doctor); err != nil {
		return err
	}
	if _, err := os.Stat(doctor); err != nil {
		return fmt.Errorf("no doctor to measure (make build): %w", err)
	}
	sdk, whyNoSDK := findSDK()

	// Start-up, before the lab exists: nothing else of ours runs.
	var walls, cpus []time.Duration
	for i := range n + 1 {
		r, err := proc(ctx, time.Minute, nil, doctor, "version")
		if err != nil || r.code != 0 {
			return fmt.Errorf("kfp-doctor version: exit %d, %v: %s", r.code, err, r.stderr)
		}
		if i > 0 { // the first run reads the binary into the page cache
			walls, cpus = append(walls, r.wall), append(cpus, r.cpu)
		}
	}
	benchline.Print(benchline.Figure{Name: "doctor.version", Title: "kfp-doctor version (start-up), wall", Value: benchline.Ms(benchline.Median(walls)),
		Unit: "ms", Target: targetVersion, Detail: fmt.Sprintf("exec to exit, median of %d; CPU %.1f ms; %s", n, benchline.Ms(benchline.Median(cpus)), benchline.Load())})

	fmt.Println("bringing up the multi-user lab…")
	bl, err := benchlab.Start(ctx, "bench-doctor")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := bl.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	url, stopFwd, err := bl.Forward(ctx, "ml-pipeline-ui.kubeflow:80")
	if err != nil {
		return err
	}
	defer stopFwd()
	token, err := bl.TokenFile(ctx, kubeflow.ExampleProfile, kubeflow.ProfileEditor)
	if err != nil {
		return err
	}
	defer os.Remove(token)

	healthy := pair{
		name: "healthy", title: "a healthy multi-user diagnosis on the lab (--host, a ServiceAccount token)",
		doctor:     []string{doctor, "--host", url, "-n", kubeflow.ExampleProfile, "--token-file", token, "-o", "json"},
		doctorWant: func(r result) error { return wantDoctor(r, 0, "") },
		sdk:        sdkCall(sdk, url, kubeflow.ExampleProfile, token),
		sdkWant:    func(r result) error { return wantExit(r, 0) },
		target:     targetHealthy, ratioTarget: targetRatio,
	}
	failing := pair{
		name: "failing", title: "a failing diagnosis on the lab (multi-user, no token: KFP's 401)",
		doctor:     []string{doctor, "--host", url, "-n", kubeflow.ExampleProfile, "-o", "json"},
		doctorWant: func(r result) error { return wantDoctor(r, 1, "KFD001") },
		sdk:        sdkCall(sdk, url, kubeflow.ExampleProfile, ""),
		sdkWant:    func(r result) error { return wantSDKError(r, "401") },
	}
	for _, p := range []pair{healthy, failing} {
		if err := p.measure(ctx, n, whyNoSDK); err != nil {
			return err
		}
	}
	return blackhole(ctx, doctor, sdk, whyNoSDK)
}

// result is one process's run.
type result struct {
	wall, cpu      time.Duration
	code           int
	stdout, stderr string
}

// proc runs argv with env added, bounded by timeout (killed after it), and
// measures it from start to exit.
func proc(ctx context.Context, timeout time.Duration, env []string, argv ...string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start), stdout: out.String(), stderr: errb.String(), code: -1}
	if st := cmd.ProcessState; st != nil {
		r.code = st.ExitCode()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // the exit code says it
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after %v: %w", timeout, ctx.Err())
	}
	return r, err
}

// pair is one diagnosis as the doctor and as the SDK.
type pair struct {
	name, title         string
	doctor, sdk         []string
	doctorWant, sdkWant func(result) error
	target, ratioTarget string
}

func (p pair) measure(ctx context.Context, n int, whyNoSDK string) error {
	var dw, sw []time.Duration
	// One unmeasured round first: a fresh forward's first connections are
	// slower than any later one.
	for i := range n + 1 {
		r, err := proc(ctx, time.Minute, nil, p.doctor...)
		if err == nil {
			err = p.doctorWant(r)
		}
		if err != nil {
			return fmt.Errorf("doctor, %s: %w", p.name, err)
		}
		if i > 0 {
			dw = append(dw, r.wall)
		}
		if whyNoSDK != "" {
			continue
		}
		r, err = proc(ctx, time.Minute, nil, p.sdk...)
		if err == nil {
			err = p.sdkWant(r)
		}
		if err != nil {
			return fmt.Errorf("SDK, %s: %w", p.name, err)
		}
		if i > 0 {
			sw = append(sw, r.wall)
		}
	}
	how := fmt.Sprintf("exec to exit, median of %d; %s", n, benchline.Load())
	d := benchline.Median(dw)
	benchline.Print(benchline.Figure{Name: "doctor." + p.name, Title: "kfp-doctor: " + p.title, Value: benchline.Ms(d), Unit: "ms", Target: p.target, Detail: how})
	if p.name == "healthy" {
		benchline.Print(maxRSS(ctx, p.doctor))
	}
	sdkFig := benchline.Figure{Name: "sdk." + p.name, Title: "kfp SDK 2.17.0: the same call", Unit: "ms", Skip: whyNoSDK}
	ratio := benchline.Figure{Name: "ratio." + p.name, Title: "SDK time / doctor time, " + p.name, Unit: "×", Target: p.ratioTarget, Skip: whyNoSDK}
	if whyNoSDK == "" {
		s := benchline.Median(sw)
		sdkFig.Value, sdkFig.Detail = benchline.Ms(s), "python3 -c 'kfp.Client(…).list_experiments(…)', "+how
		ratio.Value, ratio.Detail = float64(s)/float64(d), "medians of the same interleaved runs"
	}
	benchline.Print(sdkFig)
	benchline.Print(ratio)
	return nil
}

// blackhole measures an endpoint that accepts connections and never
// answers: the doctor must stop at its --timeout, where kfp.Client() would
// wait for ever.
func blackhole(ctx context.Context, doctor string, sdk []string, whyNoSDK string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	url := "http://" + ln.Addr().String()
	var walls []time.Duration
	for range 3 {
		r, err := proc(ctx, time.Minute, nil, doctor, "--host", url, "-n", kubeflow.ExampleProfile, "--timeout", blackholeWait.String(), "-o", "json")
		if err != nil {
			return fmt.Errorf("doctor, blackholed: %w", err)
		}
		if r.code != 1 {
			return fmt.Errorf("doctor, blackholed: exit %d, want 1: %s%s", r.code, r.stdout, r.stderr)
		}
		walls = append(walls, r.wall)
	}
	benchline.Print(benchline.Figure{Name: "doctor.blackholed", Title: fmt.Sprintf("kfp-doctor --timeout %v: an endpoint that never answers", blackholeWait),
		Value: benchline.Ms(slicesMax(walls)), Unit: "ms", Target: fmt.Sprintf("<= %d", blackholeWait.Milliseconds()),
		Detail: "exec to exit, the slowest of 3; the report names the timeout"})
	f := benchline.Figure{Name: "sdk.blackholed", Title: "kfp SDK 2.17.0 against that endpoint", Unit: "s", Skip: whyNoSDK}
	if whyNoSDK == "" {
		r, err := proc(ctx, sdkCap, nil, sdkCall(sdk, url, kubeflow.ExampleProfile, "")...)
		switch {
		case err != nil && ctx.Err() == nil:
			f.Value, f.Detail = sdkCap.Seconds(), fmt.Sprintf("no answer: still waiting when killed at %v (the SDK sets no timeout)", sdkCap)
		case err != nil:
			return err
		default:
			f.Value, f.Detail = r.wall.Seconds(), fmt.Sprintf("exit %d", r.code)
		}
	}
	benchline.Print(f)
	return nil
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// findSDK is the argv that runs a kfp.Client call with the real SDK, or why
// it cannot be run here.
func findSDK() ([]string, string) {
	dir, ok := sdkrun.FindFolder()
	if !ok {
		return nil, sdkrun.ErrNoSDK.Error()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err.Error()
	}
	python, err := sdkrun.Python()
	if err != nil {
		return nil, err.Error()
	}
	// Every child inherits it; the doctor reads no PYTHONPATH.
	if err := os.Setenv("PYTHONPATH", abs); err != nil {
		return nil, err.Error()
	}
	return []string{python, "-c", sdkScript}, ""
}

// sdkScript is what a notebook runs: a client for the host and namespace,
// with the token when one is given, and one list of experiments.
const sdkScript = `
import sys, kfp
host, ns, token = sys.argv[1], sys.argv[2], sys.argv[3]
kw = {"host": host, "namespace": ns}
if token:
    kw["existing_token"] = open(token).read().strip()
kfp.Client(**kw).list_experiments(namespace=ns)
`

func sdkCall(sdk []string, url, ns, tokenFile string) []string {
	if sdk == nil {
		return nil
	}
	return append(append([]string(nil), sdk...), url, ns, tokenFile)
}

// wantDoctor checks the doctor's exit code and, for a failure, that
// list-experiments failed with kfd: a figure of the wrong verdict is no
// figure.
func wantDoctor(r result, code int, kfd string) error {
	if r.code != code {
		return fmt.Errorf("exit %d, want %d: %s%s", r.code, code, r.stdout, r.stderr)
	}
	if kfd == "" {
		return nil
	}
	var rep struct {
		Results []struct {
			Probe, Status, KFD string
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		return fmt.Errorf("report: %w: %s", err, r.stdout)
	}
	for _, res := range rep.Results {
		if res.Probe == "list-experiments" && res.Status == "fail" && res.KFD == kfd {
			return nil
		}
	}
	return fmt.Errorf("list-experiments did not fail with %s: %s", kfd, r.stdout)
}

func wantExit(r result, code int) error {
	if r.code != code {
		return fmt.Errorf("exit %d, want %d: %s", r.code, code, lastLines(r.stderr, 5))
	}
	return nil
}

func wantSDKError(r result, words string) error {
	if r.code == 0 || !strings.Contains(r.stderr, words) {
		return fmt.Errorf("exit %d, want an error naming %q: %s", r.code, words, lastLines(r.stderr, 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// maxRSS is the doctor's peak resident memory, from GNU time: the rusage
// os/exec returns is no help, as Linux counts into a child's maximum the
// memory it shared with its parent until exec (Go's fork shares it all).
func maxRSS(ctx context.Context, argv []string) benchline.Figure {
	f := benchline.Figure{Name: "doctor.rss", Title: "kfp-doctor: memory of a healthy diagnosis (max RSS)", Unit: "MB"}
	const gnuTime = "/usr/bin/time"
	if _, err := os.Stat(gnuTime); err != nil {
		f.Skip = "no GNU time at /usr/bin/time (Debian package time)"
		return f
	}
	var peak int64
	for range 3 {
		r, err := proc(ctx, time.Minute, nil, append([]string{gnuTime, "-f", "maxrss=%M"}, argv...)...)
		i := strings.LastIndex(r.stderr, "maxrss=")
		if err != nil || i < 0 {
			f.Skip = fmt.Sprintf("GNU time: %v %s", err, lastLines(r.stderr, 2))
			return f
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(r.stderr[i+len("maxrss="):]), 10, 64)
		if err != nil {
			f.Skip = "GNU time: " + err.Error()
			return f
		}
		peak = max(peak, kb)
	}
	f.Value, f.Detail = float64(peak)/1024, "the largest of 3 runs (GNU time's %M)"
	return f
}
