// Command kfp-doctor tells a kfp.Client user, in one screen, which link between
// their client and Kubeflow Pipelines is broken and how to fix it.
//
// Exit codes: 0 every check passed; 1 a check failed (or warned, with
// --strict), or the run could not be set up although the configuration was
// sound (a port-forward that cannot listen); 2 bad usage or configuration: a
// bad flag or argument, a login that cannot be set up, a kubeconfig that
// cannot be loaded, or a run whose configuration left nothing checked, such
// as --timeout 1ns.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kfp-connect/kfp-connect/internal/buildinfo"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// version is set with -ldflags "-X main.version=…" by `make build` and
// release builds; buildinfo falls back to what the toolchain recorded.
var version = "dev"

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// started is when this process began, set by main only: a run's --timeout
// counts from it. Zero (in tests, which call run) counts from the run.
var started time.Time

func main() {
	started = processStarted()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with its stdin given (--password-stdin reads it).
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var red redact.Redactor
	// Before the flag parser can echo a secret flag's value in an error
	// ("unknown shorthand flag: 'c' in -cookies=…").
	red.AddFlagValues(args)
	code := exitOK
	cmd := newRootCommand(&red, stdout, stderr, &code)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "kfp-doctor: "+red.String(err.Error()))
		return exitCode(err)
	}
	return code
}

// runFailure is an error of a run whose configuration was sound: the doctor
// could not finish setting it up (exit 1, not 2).
type runFailure struct{ err error }

func (f *runFailure) Error() string { return f.err.Error() }
func (f *runFailure) Unwrap() error { return f.err }

// exitCode maps an error out of the command to the exit code: a run that
// failed is 1; everything else — the doctor's usage errors, and cobra's own
// about flags and arguments — is bad usage or configuration, 2.
func exitCode(err error) int {
	var f *runFailure
	if errors.As(err, &f) && !doctor.IsUsage(err) {
		return exitFailed
	}
	return exitUsage
}

func newRootCommand(red *redact.Redactor, stdout, stderr io.Writer, code *int) *cobra.Command {
	var cfg doctor.Config
	var seams doctor.Seams
	var kube kubeFlags
	var output string
	var contexts []string
	var allContexts bool
	var junit, jsonFile *reportFile
	cmd := &cobra.Command{
		Use:   "kfp-doctor",
		Short: "Diagnose the connection between kfp.Client and Kubeflow Pipelines",
		Long: `kfp-doctor walks the links a kfp.Client walks — its token, the endpoint's healthz,
the deployment mode, listing experiments — and names the first broken one with a
stable id from the failure catalogue (KFD001…), a hint and a doc link.

It diagnoses one kfp.Client(...) call and follows the SDK's own rules (SDK 2.17.0,
kfp.client): the flags are the call's arguments (--host ≙ host=, -n ≙ namespace=,
--token-file ≙ existing_token=, --token-path ≙ credentials=ServiceAccountTokenVolumeCredentials(path=…),
--volume-credentials ≙ credentials=ServiceAccountTokenVolumeCredentials(), --cookies ≙ cookies=),
and like the SDK it reads KF_PIPELINES_ENDPOINT, KF_PIPELINES_SA_TOKEN_PATH and
~/.config/kfp/context.json. With --host and no credential flag it sends nothing,
as kfp.Client(host=…) does, and says so when a token is mounted it could send.

With no --host it finds KFP through the cluster (--kubeconfig, --context, or the
pod's ServiceAccount) and adds the cluster's checks: the install, its endpoints,
the token's audience, KFP's RBAC check, and the PodDefault. In a pod it checks what
kfp.Client() does there (ml-pipeline.kubeflow.svc.cluster.local:8888 with the
pod's KFP token); outside one it port-forwards to ml-pipeline-ui (with
--sdk-default-host: the SDK's own path through the kube-apiserver's service proxy).

With --username it first logs in through Kubeflow's gateway (--host, the
port-forwarded istio-ingressgateway) as a browser would — oauth2-proxy or
oidc-authservice, Dex's connector, its login form and approval page, the callback —
reports each stage, and then checks KFP at the gateway's /pipeline with the session.

--client-config takes the call as data instead of flags (kfp_doctor.diagnose(client)
in Python writes it from a live kfp.Client, on stdin).

Secrets are never taken as bare flag values: a static token comes from --token-file
or $KFP_DOCTOR_TOKEN, cookies from $KFP_DOCTOR_COOKIES or --cookies @file, the
login password from $KFP_DOCTOR_PASSWORD or --password-stdin.`,
		Example: `  # Standalone KFP through a port-forward
  kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80 &
  kfp-doctor --host http://localhost:3000

  # Multi-user KFP with a ServiceAccount token
  kubectl -n my-profile create token default-editor --audience pipelines.kubeflow.org > /tmp/t
  kfp-doctor --host http://localhost:3000 --namespace my-profile --token-file /tmp/t -o json

  # Multi-user Kubeflow through the gateway, logging in with Dex
  kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80 &
  KFP_DOCTOR_PASSWORD=12341234 kfp-doctor --host http://localhost:8080 --username user@example.com -n kubeflow-user-example-com

  # Let the doctor find KFP in the cluster and port-forward to it itself
  kfp-doctor --kubeconfig ~/.kube/config --namespace my-profile --token-file /tmp/t`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			for _, f := range []*reportFile{junit, jsonFile} {
				if err := f.check(); err != nil {
					return err
				}
			}
			seams.Stdin = cmd.InOrStdin()
			if err := kube.apply(&cfg); err != nil {
				return err
			}
			if allContexts {
				if len(contexts) > 0 {
					return usageErr("--all-contexts and --context: pass one of them")
				}
				if contexts = kubeContexts(cfg.Kubeconfig); len(contexts) == 0 {
					return usageErr("--all-contexts: the kubeconfig holds no context")
				}
			}
			if len(contexts) > 1 {
				if jsonFile.path != "" {
					return usageErr("--json-file writes one report: with several contexts use -o json, an array of them")
				}
				return runContexts(cmd.Context(), cfg, seams, contexts, format, red, stdout, code, junit)
			}
			if len(contexts) == 1 {
				cfg.KubeContext = contexts[0]
			}
			// One run: --timeout counts from when the user started the
			// command (several contexts queue, each with its own).
			seams.Started = started
			rep, err := doctor.Run(cmd.Context(), cfg, seams, red)
			if err != nil {
				if doctor.IsUsage(err) {
					return err
				}
				return &runFailure{err}
			}
			rep.Tool = "kfp-doctor " + buildinfo.Read(version).String()
			switch format {
			case "json":
				err = rep.JSON(stdout)
			case "junit":
				err = rep.JUnit(stdout)
			default:
				err = rep.Text(stdout, useColor(stdout))
			}
			if err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			for _, f := range []*reportFile{junit, jsonFile} {
				if err := f.write(rep); err != nil {
					return err
				}
			}
			switch rep.Outcome() {
			case probe.OutcomeFailed:
				*code = exitFailed
			case probe.OutcomeMisconfigured:
				*code = exitUsage
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Host, "host", "", "host=: the KFP endpoint; default $"+doctor.EnvHost+"; none in a pod means kfp.Client()'s in-cluster default")
	f.StringVarP(&cfg.Namespace, "namespace", "n", "", "namespace=: the user (profile) namespace for multi-user KFP; in a pod with no --host it also names the API server's Service, as in the SDK")
	f.StringVar(&cfg.TokenPath, "token-path", "", "credentials=kfp.client.ServiceAccountTokenVolumeCredentials(path=…): a token file, re-read per request")
	f.BoolVar(&cfg.VolumeCredentials, "volume-credentials", false, "credentials=kfp.client.ServiceAccountTokenVolumeCredentials(): the token at $KF_PIPELINES_SA_TOKEN_PATH, else /var/run/secrets/kubeflow/pipelines/token")
	f.StringVar(&cfg.TokenFile, "token-file", "", "existing_token=: a file holding a static bearer token; or set $"+doctor.EnvToken)
	f.StringVar(&cfg.Cookies, "cookies", "", "cookies=: session cookies, or @file; prefer $"+doctor.EnvCookies+" (flag values show in ps)")
	f.BoolVar(&cfg.SDKDefaultHost, "sdk-default-host", false, "with no --host outside a pod, check kfp.Client()'s own default (the kube-apiserver's service proxy to ml-pipeline) instead of port-forwarding to ml-pipeline-ui")
	f.StringVar(&cfg.CACert, "ca-cert", "", "PEM file of a CA to trust (kfp ssl_ca_cert)")
	f.BoolVar(&cfg.InsecureSkipVerify, "insecure-skip-tls-verify", false, "do not verify the server's certificate")
	f.StringVarP(&output, "output", "o", "text", "output format: text|json|junit")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "deadline for the whole run")
	f.BoolVar(&cfg.Strict, "strict", false, "treat warnings as failures")
	f.BoolVar(&cfg.CheckWrite, "check-write", false, "also create an experiment in the namespace and delete it again, as a user's next call would (needs create and delete on experiments)")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig to find KFP with when no --host is given (default $KUBECONFIG, then ~/.kube/config; in a pod its ServiceAccount)")
	f.StringArrayVar(&contexts, "context", nil, "kubeconfig context to use (default the current one); repeat it to diagnose several clusters at once, one report each")
	f.BoolVar(&allContexts, "all-contexts", false, "diagnose every context of the kubeconfig at once, one report each")
	f.StringVar(&cfg.KFPNamespace, "kfp-namespace", "", "namespace KFP is installed in (default: the one holding svc/ml-pipeline-ui)")
	f.StringVar(&cfg.Scenario, "scenario", doctor.ScenarioAuto, "auto|standalone-in-cluster|standalone-out-of-cluster|multi-user-in-cluster|multi-user-out-of-cluster (auto guesses from the install and whether this runs in a pod)")
	f.StringVar(&cfg.Username, "username", "", "log in through Kubeflow's gateway (--host) as this Dex user before the other checks; password from $"+doctor.EnvPassword+" or --password-stdin")
	f.StringVar(&cfg.LoginConnector, "login-connector", "local", "Dex connector for --username: local (static passwords) or ldap")
	f.BoolVar(&cfg.PasswordStdin, "password-stdin", false, "read the --username password from the first line of stdin")
	kube.register(f)
	f.StringVar(&cfg.ClientConfig, "client-config", "", "a JSON description of the kfp.Client call (its arguments: host, namespace, existing_token, credentials, cookies, ssl_ca_cert, verify_ssl, kube_context) in place of the call's flags: a file, or - for one line on stdin, so no secret is on a command line; the Python package kfp_doctor writes it")
	junit = addJUnitFileFlag(cmd)
	jsonFile = addJSONFileFlag(cmd)
	registerCompletions(cmd, &cfg, &kube, &contexts)
	cmd.AddCommand(newExplainCommand(stdout, code))
	cmd.AddCommand(newFixCommand(red, stdout, code))
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "kfp-doctor %s\n", buildinfo.Read(version))
		},
	})
	return cmd
}

func parseOutput(o string) (string, error) {
	switch o {
	case "text", "json", "junit":
		return o, nil
	}
	return "", &doctor.UsageError{Err: fmt.Errorf("-o %q: want text, json or junit", o)}
}

// useColor follows the NO_COLOR convention and colours only terminals.
func useColor(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
