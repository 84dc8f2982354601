package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/fix"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// A subcommand, not --fix on a run: what it writes depends on facts the user
// states (whom to bind, which namespace, which pod), a run's report stays
// a diagnosis that changes nothing, and --apply is a separate, explicit act.
// `kfp-doctor explain` and the run's hints point here with the arguments.

// maxTokenFile bounds the read of --token-file: a JWT is a few KiB.
const maxTokenFile = 64 << 10

type fixOptions struct {
	namespace, tokenFile, subject, audience, kfpAudience string
	kfpNamespace, pod, kubeconfig, kubeContext           string
	host                                                 string
	apply                                                bool
	timeout                                              time.Duration
}

func newFixCommand(red *redact.Redactor, stdout io.Writer, code *int) *cobra.Command {
	var o fixOptions
	cmd := &cobra.Command{
		Use:   "fix KFD009|KFD004|KFD003|KFD005|KFD006 ...",
		Short: "Print the YAML that mends a failure; dry-run it, or apply it with --apply",
		Long: `fix prints the Kubernetes objects that mend a failure kfp-doctor named:

  KFD009  a RoleBinding to kubeflow-edit for the subject in -n (the subject from
          --token-file's claims, or --subject: system:serviceaccount:NS:SA or a user's email)
  KFD004  Kubeflow's access-ml-pipeline PodDefault for -n; with --pod also that pod
          with the projected token volume (read from the cluster)
  KFD003  TOKEN_REVIEW_AUDIENCE on KFP's API server set to the token's audience
          (from --token-file's aud claim, or --audience)
  KFD005, KFD006
          the Istio AuthorizationPolicy that admits the call to --host (default KFP's
          API server) from the ServiceAccount of --token-file or --subject, judged with
          Istio's semantics against the policies read with --kubeconfig: KFP's own
          policies when only global-deny-all selects KFP, else an ALLOW policy for that
          principal beside the existing ones; nothing when a DENY policy refuses it

With --kubeconfig it validates each object by server-side dry-run (apply) and says
what the server answered. It changes nothing unless --apply is given, and then it
applies exactly what it printed, only after every dry-run passed.

Exit codes: 0 printed (and accepted or applied), 1 the server refused one, 2 bad usage.`,
		Example: `  kfp-doctor fix KFD009 -n team-a --token-file /tmp/t
  kfp-doctor fix KFD009 -n team-a --subject user@example.com --kubeconfig ~/.kube/config
  kfp-doctor fix KFD004 -n team-a --pod my-notebook-0 --kubeconfig ~/.kube/config --apply
  kfp-doctor fix KFD006 --subject system:serviceaccount:team-a:default-editor --kubeconfig ~/.kube/config`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.timeout <= 0 {
				return &doctor.UsageError{Err: fmt.Errorf("--timeout %s: want a positive duration", o.timeout)}
			}
			if o.apply && o.kubeconfig == "" {
				return &doctor.UsageError{Err: fmt.Errorf("--apply needs --kubeconfig: it applies to the cluster it first dry-runs against")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			return runFix(ctx, o, args, red, stdout, code)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "the profile namespace the call was for")
	f.StringVar(&o.tokenFile, "token-file", "", "the token the call sent: its claims name the subject (KFD009) and audience (KFD003); never printed")
	f.StringVar(&o.subject, "subject", "", "whom to bind (KFD009): system:serviceaccount:NS:SA or a user name such as user@example.com")
	f.StringVar(&o.audience, "audience", "", "the audience to make KFP accept (KFD003); default the token's")
	f.StringVar(&o.kfpAudience, "kfp-audience", fix.DefaultAudience, "the audience KFP reviews tokens for, put in the PodDefault and Pod (KFD004)")
	f.StringVar(&o.kfpNamespace, "kfp-namespace", "kubeflow", "the namespace of KFP's API server (KFD003)")
	f.StringVar(&o.host, "host", "", "the host the call went to (KFD005, KFD006), a cluster name such as http://ml-pipeline-ui.kubeflow; default KFP's API server")
	f.StringVar(&o.pod, "pod", "", "a pod of -n to print with the token volume (KFD004; read with --kubeconfig)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "validate by server-side dry-run against this cluster (and --apply there)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context (default the current one)")
	f.BoolVar(&o.apply, "apply", false, "apply what was printed, after every dry-run passed")
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "deadline for the whole command")
	return cmd
}

func runFix(ctx context.Context, o fixOptions, args []string, red *redact.Redactor, stdout io.Writer, code *int) error {
	ids, err := fixIDs(args)
	if err != nil {
		return err
	}
	var token *credentials.TokenInfo
	if o.tokenFile != "" {
		if token, err = readTokenClaims(o.tokenFile, red); err != nil {
			return &doctor.UsageError{Err: err}
		}
	}
	var (
		kube kubeapi.Interface
		dyn  dynamic.Interface
		host string
	)
	if o.kubeconfig != "" {
		rc, _, err := discover.Kubeconfig(ctx, o.kubeconfig, o.kubeContext, o.timeout)
		if err != nil {
			return &doctor.UsageError{Err: err}
		}
		if kube, err = kubeapi.New(rc); err != nil {
			return fmt.Errorf("kubeconfig: %w", err)
		}
		if dyn, err = dynamic.NewForConfig(rc); err != nil {
			return fmt.Errorf("kubeconfig: %w", err)
		}
		host = rc.Host
	}
	var ms []fix.Manifest
	var notes []string
	for _, id := range ids {
		var more []fix.Manifest
		var err error
		if id == kfd.IstioDenied || id == kfd.PipelinePodDenied {
			var plan fix.MeshPlan
			plan, err = buildMeshFix(ctx, id, o, token, kube, dyn)
			more, notes = plan.Manifests, append(notes, plan.Notes...)
		} else {
			more, err = buildFix(ctx, id, o, token, kube)
		}
		if err != nil {
			return err
		}
		ms = append(ms, more...)
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "# "+n)
	}
	if len(ms) == 0 {
		return nil
	}
	out, err := fix.YAML(ms)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("writing the YAML: %w", err)
	}
	if dyn == nil {
		fmt.Fprintln(stdout, "# not validated: pass --kubeconfig for a server-side dry-run")
		return nil
	}
	fmt.Fprintf(stdout, "# server-side dry-run at %s:\n", host)
	verdicts := fix.Send(ctx, dyn, ms, true)
	refused := false
	for _, v := range verdicts {
		fmt.Fprintln(stdout, "#   "+red.String(v.Answer))
		refused = refused || !v.Accepted()
	}
	if refused {
		if o.apply {
			fmt.Fprintln(stdout, "# nothing applied: the dry-run refused some of it")
		}
		*code = exitFailed
		return nil
	}
	if !o.apply {
		fmt.Fprintln(stdout, "# nothing was changed: run again with --apply to apply exactly this")
		return nil
	}
	fmt.Fprintln(stdout, "# applying:")
	for _, v := range fix.Send(ctx, dyn, ms, false) {
		fmt.Fprintln(stdout, "#   "+red.String(v.Answer))
		if !v.Accepted() {
			*code = exitFailed
		}
	}
	return nil
}

func fixIDs(args []string) ([]kfd.ID, error) {
	var ids []kfd.ID
	seen := map[kfd.ID]bool{}
	for _, a := range args {
		id := kfd.ID(strings.ToUpper(strings.TrimSpace(a)))
		switch id {
		case kfd.RBACDenied, kfd.NoTokenFile, kfd.TokenAudience, kfd.IstioDenied, kfd.PipelinePodDenied:
		default:
			if _, known := kfd.Lookup(id); known {
				return nil, &doctor.UsageError{Err: fmt.Errorf("%s has no YAML fix: fix writes KFD009, KFD004, KFD003, KFD005 and KFD006 (see %s for %s)", id, id.Doc(), id)}
			}
			return nil, &doctor.UsageError{Err: fmt.Errorf("%q is not a catalogue id: fix writes KFD009, KFD004, KFD003, KFD005 and KFD006", a)}
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func readTokenClaims(path string, red *redact.Redactor) (*credentials.TokenInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("--token-file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("--token-file %s: over %d bytes, not a token", path, maxTokenFile)
	}
	red.Add(string(b))
	info, err := credentials.InspectToken(string(b))
	if err != nil {
		return nil, fmt.Errorf("--token-file %s: %w (pass --subject instead)", path, err)
	}
	return info, nil
}

func buildFix(ctx context.Context, id kfd.ID, o fixOptions, token *credentials.TokenInfo, kube kubeapi.Interface) ([]fix.Manifest, error) {
	usage := func(err error) error { return &doctor.UsageError{Err: fmt.Errorf("%s: %w", id, err)} }
	switch id {
	case kfd.RBACDenied:
		who := o.subject
		if who == "" && token != nil {
			who = token.Who()
		}
		s, err := fix.ParseSubject(who)
		if err != nil {
			return nil, usage(err)
		}
		m, err := fix.RoleBinding(s, o.namespace)
		if err != nil {
			return nil, usage(err)
		}
		return []fix.Manifest{m}, nil
	case kfd.NoTokenFile:
		m, err := fix.PodDefault(o.namespace, o.kfpAudience)
		if err != nil {
			return nil, usage(err)
		}
		out := []fix.Manifest{m}
		if o.pod != "" {
			if kube == nil {
				return nil, usage(fmt.Errorf("--pod needs --kubeconfig: the pod's containers are read from the cluster"))
			}
			p, err := kube.Pods(o.namespace).Get(ctx, o.pod, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("%s: reading pod %s in %s: %w", id, o.pod, o.namespace, err)
			}
			spec := fix.PodSpec{Name: p.Name, Namespace: p.Namespace, ServiceAccount: p.Spec.ServiceAccountName}
			for _, c := range p.Spec.Containers {
				spec.Containers = append(spec.Containers, fix.Container{Name: c.Name, Image: c.Image})
			}
			pm, err := fix.PodWithToken(spec, o.kfpAudience)
			if err != nil {
				return nil, usage(err)
			}
			out = append(out, pm)
		}
		return out, nil
	case kfd.TokenAudience:
		aud := o.audience
		if aud == "" && token != nil && len(token.Audience) > 0 {
			aud = token.Audience[0]
		}
		container := ""
		if kube != nil {
			// Kubeflow's manifests name it ml-pipeline-api-server; a
			// distribution may not, so ask the Deployment when we can.
			if d, err := kube.Deployments(o.kfpNamespace).Get(ctx, fix.APIServerName, metav1.GetOptions{}); err == nil && len(d.Spec.Template.Spec.Containers) > 0 {
				container = d.Spec.Template.Spec.Containers[0].Name
			}
		}
		m, err := fix.Audience(o.kfpNamespace, container, aud)
		if err != nil {
			return nil, usage(err)
		}
		return []fix.Manifest{m}, nil
	}
	return nil, usage(fmt.Errorf("no fix"))
}

// buildMeshFix reads the workload behind --host and the mesh's policies
// (with --kubeconfig; without it, KFP's API server as Kubeflow labels it and
// no policy known) and asks fix.AdmitCall for the change.
func buildMeshFix(ctx context.Context, id kfd.ID, o fixOptions, token *credentials.TokenInfo, kube kubeapi.Interface, dyn dynamic.Interface) (fix.MeshPlan, error) {
	usage := func(err error) error { return &doctor.UsageError{Err: fmt.Errorf("%s: %w", id, err)} }
	who := o.subject
	if who == "" && token != nil {
		who = token.Who()
	}
	s, err := fix.ParseSubject(who)
	if err != nil {
		return fix.MeshPlan{}, usage(err)
	}
	if s.SAName == "" {
		return fix.MeshPlan{}, usage(fmt.Errorf("subject %q: Istio knows a client by its ServiceAccount; pass --subject system:serviceaccount:NS:SA or its token", s.User))
	}
	svc, ns, port := fix.APIServerName, o.kfpNamespace, 8888
	if o.host != "" {
		u, err := kfp.ParseHost(o.host)
		if err != nil {
			return fix.MeshPlan{}, usage(fmt.Errorf("--host: %w", err))
		}
		var ok bool
		if svc, ns, ok = discover.ServiceOf(u.Hostname(), s.SANamespace); !ok {
			return fix.MeshPlan{}, usage(fmt.Errorf("--host %s: not a cluster Service name (<service>.<namespace>)", o.host))
		}
		port = 80
		if p := u.Port(); p != "" {
			port, _ = strconv.Atoi(p)
		}
	}
	cfg := &mesh.Config{}
	call := fix.MeshCall{Service: svc, Port: port, Workload: mesh.Workload{Namespace: ns, Labels: map[string]string{"app": svc}}}
	if kube != nil && dyn != nil {
		w, err := discover.FindWorkload(ctx, kube, ns, svc, port)
		if err != nil {
			return fix.MeshPlan{}, fmt.Errorf("%s: %w", id, err)
		}
		call.Workload.Labels, call.Port = w.Labels, w.Port
		if cfg, err = mesh.Load(ctx, dyn); err != nil {
			return fix.MeshPlan{}, fmt.Errorf("%s: reading Istio's policies: %w", id, err)
		}
	}
	call.Principal = cfg.Principal(s.SANamespace, s.SAName)
	if dyn == nil {
		// No policies to judge by: print the change the id names, for the
		// workload as Kubeflow labels it.
		note := "not read from a cluster (pass --kubeconfig to judge against its policies): assuming the pods of " + ns + "/" + svc + " are labelled app: " + svc
		var plan fix.MeshPlan
		if id == kfd.IstioDenied {
			plan.Manifests, err = fix.KFPPolicies(o.kfpNamespace)
			note = "not read from a cluster (pass --kubeconfig to judge against its policies): KFP's own policies, for when only global-deny-all selects KFP"
		} else {
			var m fix.Manifest
			m, err = fix.AllowPrincipal(call.Workload, svc, call.Principal, "unknown (no cluster read)")
			plan.Manifests = []fix.Manifest{m}
		}
		plan.Notes = []string{note}
		if err != nil {
			return plan, usage(err)
		}
		return plan, nil
	}
	plan, err := fix.AdmitCall(cfg, call, o.kfpNamespace)
	if err != nil {
		return plan, usage(err)
	}
	return plan, nil
}
