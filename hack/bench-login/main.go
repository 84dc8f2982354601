// Command bench-login measures the doctor's login through the lab's real
// login stack — Kubeflow's gateway (stand-in), real oauth2-proxy, real Dex
// with the example user's bcrypt cost-12 hash, real slapd — next to the whole
// diagnosis: the login stages alone, and the whole run, each the median of
// -n runs, for the static-password and the LDAP connector.
//
//	go run ./hack/bench-login [-n 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kfp-connect/kfp-connect/hack/internal/benchlab"
	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

func main() {
	n := flag.Int("n", 5, "runs per connector")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench-login:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int) (err error) {
	bl, err := benchlab.Start(ctx, "bench-login")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := bl.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	gateway, stopFwd, err := bl.Forward(ctx, "istio-ingressgateway.istio-system:80")
	if err != nil {
		return err
	}
	defer stopFwd()

	for _, user := range []struct{ name, connector string }{{"user@example.com", "local"}, {"ldap-user@example.com", "ldap"}} {
		var login, whole []time.Duration
		// One unmeasured run first: the first forwards of a fresh
		// cluster are slower than any later one.
		for i := range n + 1 {
			l, w, err := once(ctx, gateway, user.name, user.connector)
			if err != nil {
				return fmt.Errorf("%s: %w", user.name, err)
			}
			if i > 0 {
				login, whole = append(login, l), append(whole, w)
			}
		}
		fmt.Printf("%-22s connector %-5s login %v, whole diagnosis %v (median of %d; login stages %s of the run)\n",
			user.name, user.connector, median(login).Round(time.Millisecond), median(whole).Round(time.Millisecond), n,
			percent(median(login), median(whole)))
		how := fmt.Sprintf("median of %d, in-process; login stages %s of it; %s", n, percent(median(login), median(whole)), benchline.Load())
		benchline.Print(benchline.Figure{Name: "login." + user.connector, Title: "diagnosis with a gateway login (" + connectorTitle[user.connector] + ")",
			Value: benchline.Ms(median(whole)), Unit: "ms", Detail: how})
	}
	return nil
}

// once runs the doctor with a login and returns the login stages' time and
// the whole run's.
func once(ctx context.Context, gateway, user, connector string) (time.Duration, time.Duration, error) {
	cfg := doctor.Config{Host: gateway, Username: user, LoginConnector: connector, Namespace: "kubeflow-user-example-com",
		Timeout: 30 * time.Second}
	seams := doctor.Seams{Getenv: func(k string) string {
		if k == doctor.EnvPassword {
			return "12341234"
		}
		return ""
	}}
	var red redact.Redactor
	start := time.Now()
	rep, err := doctor.Run(ctx, cfg, seams, &red)
	whole := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if !rep.OK() {
		return 0, 0, fmt.Errorf("the diagnosis failed:\n%s", rep.Details)
	}
	var login time.Duration
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Probe, "login-") {
			login += r.Duration
		}
	}
	return login, whole, nil
}

// connectorTitle names a Dex connector for the table.
var connectorTitle = map[string]string{"local": "Dex static password, bcrypt cost 12", "ldap": "Dex LDAP, slapd"}

func median(d []time.Duration) time.Duration { return benchline.Median(d) }

func percent(part, whole time.Duration) string {
	if whole == 0 {
		return "?"
	}
	return fmt.Sprintf("%d%%", int(100*part/whole))
}
