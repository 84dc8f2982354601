// Command bench-sdk puts the real KFP SDK's time to its verdict next to the
// doctor's, per outside path of the multi-user lab, healthy and failing: the
// SDK's kfp.Client constructor and list_experiments (kfp imported already, as
// in a notebook), and the kfp-doctor binary's whole run with the path's
// flags (process start included), each the median of -n runs after one
// unmeasured run. Both must reach the same verdict on every row: a
// disagreement fails the run. Each row's two medians are also printed as
// BENCH lines (internal/benchline), so `make bench` tables them.
//
//	go run ./hack/bench-sdk [-n 5]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kfp-connect/kfp-connect/hack/internal/benchlab"
	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/login/logintest"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
)

const profile = kubeflow.ExampleProfile

func main() {
	n := flag.Int("n", 5, "measured runs per row")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// client-go logs the port-forwards' retries while the lab's programs
	// start: not the benchmark's output.
	klog.SetLogger(logr.Discard())
	if err := run(ctx, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sdk:", err)
		os.Exit(1)
	}
}

// row is one path in one state: the same call given to the SDK and, as
// flags, to the doctor.
type row struct {
	path, state string
	sdk         sdkrun.Case
	flags       []string
	env         []string // the doctor's environment besides PATH (cookies go there, not on its command line)
}

func run(ctx context.Context, n int) (err error) {
	sdk, err := sdkrun.Find(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-sdk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	doctorBin := filepath.Join(dir, "kfp-doctor")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", doctorBin, "./cmd/kfp-doctor").CombinedOutput(); err != nil {
		return fmt.Errorf("building kfp-doctor: %w\n%s", err, out)
	}
	driver, err := sdkrun.Start(ctx, sdk.Python, sdk, os.Stderr)
	if err != nil {
		return err
	}
	defer driver.Close()

	bl, err := benchlab.Start(ctx, "bench-sdk")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := bl.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ui, stopUI, err := bl.Forward(ctx, fmt.Sprintf("%s.%s:%d", kubeflow.UIServer, kubeflow.Namespace, kubeflow.UIPort))
	if err != nil {
		return err
	}
	defer stopUI()
	gw, stopGW, err := bl.Forward(ctx, kubeflow.Gateway+"."+kubeflow.GatewayNamespace+":80")
	if err != nil {
		return err
	}
	defer stopGW()
	cs, err := kubernetes.NewForConfig(bl.Cluster.RESTConfig())
	if err != nil {
		return err
	}
	token := func(audience string) (string, error) {
		req := &authenticationv1.TokenRequest{}
		if audience != "" {
			req.Spec.Audiences = []string{audience}
		}
		tr, err := cs.CoreV1().ServiceAccounts(profile).CreateToken(ctx, kubeflow.ProfileEditor, req, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		f := filepath.Join(dir, "token-"+audience)
		return f, os.WriteFile(f, []byte(tr.Status.Token), 0o600)
	}
	kfpToken, err := token(kubeflow.Audience)
	if err != nil {
		return err
	}
	gwToken, err := token("")
	if err != nil {
		return err
	}
	gwURL, _ := url.Parse(gw)
	sess, _, err := login.Login(ctx, login.Config{Gateway: gwURL, Username: kubeflow.ExampleUser, Password: logintest.DefaultPassword, Connector: "local"})
	if err != nil || sess == nil {
		return fmt.Errorf("logging in for a session: %v", err)
	}
	home := map[string]string{"HOME": dir}
	closed := "http://127.0.0.1:1"
	rows := []row{
		{"port-forward-bearer", "healthy", sdkrun.Case{Host: ui, Namespace: profile, ExistingTokenFile: kfpToken}, []string{"--host", ui, "-n", profile, "--token-file", kfpToken}, nil},
		{"port-forward-bearer", "no token (KFD001)", sdkrun.Case{Host: ui, Namespace: profile}, []string{"--host", ui, "-n", profile}, nil},
		{"port-forward-bearer", "no port-forward (KFD025)", sdkrun.Case{Host: closed, Namespace: profile, ExistingTokenFile: kfpToken}, []string{"--host", closed, "-n", profile, "--token-file", kfpToken}, nil},
		{"port-forward, no namespace=", "none given (KFD010)", sdkrun.Case{Host: ui, ExistingTokenFile: kfpToken}, []string{"--host", ui, "--token-file", kfpToken}, nil},
		{"port-forward, no namespace=", "no port-forward (KFD025)", sdkrun.Case{Host: closed, ExistingTokenFile: kfpToken}, []string{"--host", closed, "--token-file", kfpToken}, nil},
		{"gateway-session-cookies", "healthy", sdkrun.Case{Host: gw + "/pipeline", Namespace: profile, Cookies: sess.Cookie}, []string{"--host", gw + "/pipeline", "-n", profile}, []string{"KFP_DOCTOR_COOKIES=" + sess.Cookie}},
		{"gateway-session-cookies", "another namespace (KFD009)", sdkrun.Case{Host: gw + "/pipeline", Namespace: "namespace-3", Cookies: sess.Cookie}, []string{"--host", gw + "/pipeline", "-n", "namespace-3"}, []string{"KFP_DOCTOR_COOKIES=" + sess.Cookie}},
		{"gateway-m2m-bearer", "healthy", sdkrun.Case{Host: gw + "/pipeline", Namespace: profile, ExistingTokenFile: gwToken}, []string{"--host", gw + "/pipeline", "-n", profile, "--token-file", gwToken}, nil},
		{"gateway-m2m-bearer", "no token", sdkrun.Case{Host: gw + "/pipeline", Namespace: profile}, []string{"--host", gw + "/pipeline", "-n", profile}, nil},
	}
	var disagree []string
	fmt.Printf("%-28s %-28s %-56s %s\n", "path", "state", fmt.Sprintf("real SDK: Client() + list_experiments (median of %d)", n), "kfp-doctor, whole run")
	for _, r := range rows {
		r.sdk.Env = home
		var sdkTimes, docTimes []time.Duration
		var last *sdkrun.Outcome
		var docOK bool
		for i := range n + 1 {
			o, err := driver.Run(ctx, r.sdk)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", r.path, r.state, err)
			}
			start := time.Now()
			cmd := exec.CommandContext(ctx, doctorBin, append(r.flags, "--timeout", "30s")...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, r.env...)
			runErr := cmd.Run()
			took := time.Since(start)
			var exit *exec.ExitError
			if runErr != nil && !errors.As(runErr, &exit) {
				return runErr
			}
			if i == 0 {
				continue
			}
			sdkTimes, docTimes, last, docOK = append(sdkTimes, o.Elapsed), append(docTimes, took), o, runErr == nil
		}
		verdict := "OK"
		if !docOK {
			verdict = "FAILED"
		}
		sdkOK := last.Result == sdkrun.Succeeded
		agree := ""
		if sdkOK != docOK {
			agree = "  ← the SDK and the doctor disagree"
		}
		sdkMedian, docMedian := benchline.Median(sdkTimes), benchline.Median(docTimes)
		fmt.Printf("%-28s %-28s %-56s %s%s\n", r.path, r.state,
			fmt.Sprintf("%8s  %s", sdkMedian.Round(time.Millisecond), outcome(last)),
			fmt.Sprintf("%8s  %s", docMedian.Round(time.Millisecond), verdict), agree)
		id := figureID(r.path, r.state)
		how := fmt.Sprintf("median of %d", n)
		benchline.Print(benchline.Figure{Name: "sdkpath." + id + ".sdk", Title: "real kfp SDK to its verdict, " + r.path + ", " + r.state, Value: benchline.Ms(sdkMedian), Unit: "ms", Detail: how + "; " + outcome(last)})
		benchline.Print(benchline.Figure{Name: "sdkpath." + id + ".doctor", Title: "kfp-doctor to its verdict, " + r.path + ", " + r.state, Value: benchline.Ms(docMedian), Unit: "ms", Detail: how + ", whole process; " + verdict})
		if agree != "" {
			disagree = append(disagree, r.path+", "+r.state)
		}
	}
	if len(disagree) > 0 {
		return fmt.Errorf("the real SDK and the doctor disagree on %v", disagree)
	}
	return nil
}

// figureID is a row's stable part of its figures' names: the path and
// state, lower-case, runs of anything else as one dash.
func figureID(path, state string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(path + " " + state) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// outcome is the SDK's verdict without its time (the column has it).
func outcome(o *sdkrun.Outcome) string {
	switch o.Result {
	case sdkrun.Succeeded:
		return fmt.Sprintf("listed %d", o.Listed)
	case sdkrun.Raised:
		s := o.Stage + " raised " + o.Exception[strings.LastIndex(o.Exception, ".")+1:]
		if o.HTTPStatus != 0 {
			s += fmt.Sprintf(" (HTTP %d)", o.HTTPStatus)
		}
		return s
	}
	return string(o.Result) + " at " + o.Stage
}
