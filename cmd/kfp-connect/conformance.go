package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/internal/conformance/drivers"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
)

type conformanceFlags struct {
	provider, kubeconfig, kubeContext string
	scenarios                         []string
	test                              string
	reportDir                         string
	disruptive                        bool
	image                             string
	imageArchives                     []string
	sdkPython                         string
}

// errCasesFailed makes the exit code 1 once the reports say why.
type errCasesFailed struct{ failed int }

func (e errCasesFailed) Error() string { return fmt.Sprintf("%d case(s) failed", e.failed) }

func newConformanceCommand(stdout, stderr io.Writer) *cobra.Command {
	var f conformanceFlags
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the scenarios' cases — every documented path, every fault — and check what the doctor names",
		Long: `conformance runs the same cases as the Ginkgo suite (suites/conformance), through
the same runner: each documented way a kfp.Client reaches KFP, under each fault
users hit, and checks that the doctor reports success or names the case's KFD id.

--provider kwok, node or kind makes a cluster per scenario, installs KFP and
runs every case (node: a real kubelet, containerd and runc, root; kind: Docker).
--provider existing uses your cluster (--kubeconfig, --context) and is
non-destructive by default: it installs nothing and changes nothing of the
install; it runs the happy paths and the faults that live in the client, and
skips the faults that delete, scale or re-configure the install's objects
(--disruptive runs them, reverting each). It creates only its own objects —
client and doctor pods, their token Secrets and context ConfigMaps, the
doctor's read-only ClusterRole and bindings, and the scenarios' own namespaces,
ServiceAccounts and RoleBindings where the cluster lacks them — labelled
` + env.OwnedSelector + ` and the run's id, and removes them
afterwards, also on Ctrl-C; the next run removes what a killed one left.

Where pods really run (node, kind, a real cluster), each in-cluster case is a
Pod of the doctor's image (--image, imagePullPolicy IfNotPresent) in the path's
namespace, as the path's ServiceAccount, its report read from its log. Load the
image where the command does not create the cluster: kfp-connect lab
load-image for a node lab, kind load image-archive for kind; where it does
(node, kind), --image-archive loads it, else the image is built from this module.

Exit codes: 0 every case passed, 1 a case failed (or the run could not go on),
2 bad usage.`,
		Example: `  kfp-connect conformance --provider existing --context my-cluster --report-dir reports/
  kfp-connect conformance --provider existing --image ghcr.io/kfp-connect/kfp-doctor:v0.3.0
  kfp-connect conformance --provider existing --scenario multi-user/out-of-cluster --test 'gateway'
  kfp-connect conformance --provider node --image-archive bin/images/kfp-doctor.tar`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConformance(cmd.Context(), &f, cmd.Flags().Changed("disruptive"), stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.provider, "provider", "", "where to run: kwok, node or kind (a cluster per scenario, made and removed), or existing (your cluster)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the existing cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.kubeContext, "context", "", "kubeconfig context of the existing cluster (default: the current one)")
	fs.StringArrayVar(&f.scenarios, "scenario", nil, "run only this scenario (repeatable): "+joinNames())
	fs.StringVar(&f.test, "test", "", "run only the cases whose name (\"scenario: path × fault\") matches this regular expression")
	fs.StringVar(&f.reportDir, "report-dir", "", "write "+results.JUnitFile+", "+results.JSONFile+" and "+results.HTMLFile+" here")
	fs.BoolVar(&f.disruptive, "disruptive", false, "also run the cases that change the install, reverting each (default: on for the clusters the run makes, off for existing)")
	fs.StringVar(&f.image, "image", images.Doctor(version).Ref, "the doctor's image the in-cluster cases run as where pods really run (imagePullPolicy IfNotPresent: a loaded image is used as it is)")
	fs.StringVar(&f.sdkPython, "sdk", "", "also run the real kfp.Client as each case's client where it applies, under this python (its own kfp, else ../shared/upstream's SDK); a verdict it disagrees with fails the case")
	fs.StringArrayVar(&f.imageArchives, "image-archive", nil, "a docker archive FILE to load into the clusters the run makes (node, kind), such as the doctor's from make images, bin/images/kfp-doctor.tar (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("provider", cobra.FixedCompletions(drivers.Providers, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("scenario", cobra.FixedCompletions(plan.Names(all.Scenarios()), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func joinNames() string { return strings.Join(plan.Names(all.Scenarios()), ", ") }

func runConformance(ctx context.Context, f *conformanceFlags, disruptiveSet bool, stdout, stderr io.Writer) error {
	sel := plan.Selection{Scenarios: f.scenarios}
	if f.test != "" {
		re, err := regexp.Compile(f.test)
		if err != nil {
			return usageErr("--test %q: %v", f.test, err)
		}
		sel.Test = re
	}
	// The user's mistakes are found before any cluster is touched: a
	// scenario or pattern that names nothing, flags of another provider.
	if _, err := plan.Make(all.Scenarios(), sel, plan.Options{}); err != nil {
		return usageErr("%v", err)
	}
	switch {
	case f.provider == "":
		return usageErr("--provider is required: %s", strings.Join(drivers.Providers, ", "))
	case !slices.Contains(drivers.Providers, f.provider):
		return usageErr("--provider %q: want %s", f.provider, strings.Join(drivers.Providers, ", "))
	case f.provider != "existing" && (f.kubeconfig != "" || f.kubeContext != ""):
		return usageErr("--kubeconfig and --context are for --provider existing; %s makes its own clusters", f.provider)
	case len(f.imageArchives) > 0 && f.provider != "node" && f.provider != "kind":
		return usageErr("--image-archive loads archives where the run creates the cluster (--provider node or kind); for %s load the image yourself (kfp-connect lab load-image, kind load image-archive) and name it with --image", f.provider)
	}
	var sdk *sdkrun.Driver
	if f.sdkPython != "" {
		found, err := sdkrun.FindFor(ctx, f.sdkPython)
		if err != nil {
			return usageErr("--sdk %s: %v", f.sdkPython, err)
		}
		if sdk, err = sdkrun.Start(ctx, found.Python, found, stderr); err != nil {
			return fmt.Errorf("starting the real SDK: %w", err)
		}
		defer sdk.Close()
	}
	// client-go logs the port-forward errors the faults provoke on purpose;
	// each case's outcome says what matters.
	klog.SetLogger(logr.Discard())
	target, info, err := drivers.New(ctx, drivers.Options{
		Provider: f.provider, Kubeconfig: f.kubeconfig, Context: f.kubeContext,
		Image: f.image, Version: version, ImageArchives: f.imageArchives, Notebook: sdk != nil,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if errors.Is(err, drivers.ErrUnknownProvider) {
		return usageErr("%v", err)
	}
	if err != nil {
		return err
	}
	disruptive := f.disruptive
	if !disruptiveSet {
		disruptive = info.Disposable
	}
	plans, err := plan.Make(all.Scenarios(), sel, plan.Options{Disruptive: disruptive, PodNetwork: info.PodNetwork})
	if err != nil {
		return usageErr("%v", err)
	}
	r := &conformance.Runner{
		Target: target, Plans: plans, Owner: env.NewOwner(), Disruptive: disruptive, SDK: sdk,
		Progress: func(ev conformance.Event) { fmt.Fprintln(stderr, conformance.ProgressLine(ev)) },
	}
	res, runErr := r.Run(ctx)
	if f.reportDir != "" {
		if err := results.WriteReports(f.reportDir, res); err != nil {
			return fmt.Errorf("writing the reports: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped (run %s on %s)\n",
		res.Count(results.Passed), res.Count(results.Failed), res.Count(results.Skipped), res.RunID, res.Provider)
	if len(res.Cleanup) > 0 {
		fmt.Fprintf(stderr, "• removed the run's %d object(s): %s\n", len(res.Cleanup), strings.Join(res.Cleanup, ", "))
	}
	if f.reportDir != "" {
		fmt.Fprintf(stdout, "reports in %s: %s, %s, %s\n", f.reportDir, results.HTMLFile, results.JUnitFile, results.JSONFile)
	}
	if runErr != nil {
		return runErr
	}
	if n := res.Count(results.Failed); n > 0 {
		return errCasesFailed{failed: n}
	}
	return nil
}
