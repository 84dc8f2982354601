package probes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// Cluster is what the doctor knows of the cluster KFP runs in.
type Cluster struct {
	// Install is what discovery found; never nil on a Cluster.
	Install *discover.Install
	// Kube is the user's own client (the kubeconfig's user, or the pod's
	// ServiceAccount); Dynamic reads PodDefaults. Either may be nil.
	Kube    kubeapi.Interface
	Dynamic dynamic.Interface
	// MultiUser and ModeKnown are the scenario's mode: discovery's reading of
	// the ml-pipeline Deployment unless --scenario said otherwise.
	MultiUser, ModeKnown bool
	// Pod is the pod the doctor runs in; nil outside one.
	Pod *discover.Pod
}

// PodDefaultGVR is Kubeflow's PodDefault resource.
var PodDefaultGVR = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"}

// OnCluster is the doctor's probe set when a cluster is known: the four
// probes of Doctor, unchanged, with the cluster's own checks around them.
// When the host itself came from discovery, reaching it depends on the
// install having been found; the PodDefault check is only for a pod.
func OnCluster(hostFromInstall, inPod bool) []probe.Probe[*Target] {
	base := Doctor()
	byID := map[string]probe.Probe[*Target]{}
	for _, p := range base {
		if p.ID == "healthz" && hostFromInstall {
			p.DependsOn = append(slices.Clone(p.DependsOn), "install")
		}
		byID[p.ID] = p
	}
	// The order is the order of the report: where KFP is, whether it can
	// answer, the credentials, then the calls.
	set := []probe.Probe[*Target]{withFacts(installProbe(), ClusterFacts), endpointsProbe(), podDefaultWebhookProbe(), meshProbe()}
	if inPod {
		set = append(set, podDefaultProbe())
	}
	return append(set,
		byID["token"],
		audienceProbe(),
		byID["healthz"],
		byID["mode"],
		rbacProbe(),
		byID["list-experiments"],
	)
}

// withFacts adds facts to every result of p (-o json "facts").
func withFacts(p probe.Probe[*Target], facts func(*Target) map[string]string) probe.Probe[*Target] {
	run := p.Run
	p.Run = func(ctx context.Context, t *Target) probe.Result {
		res := run(ctx, t)
		if f := facts(t); len(f) > 0 {
			if res.Facts == nil {
				res.Facts = map[string]string{}
			}
			for k, v := range f {
				res.Facts[k] = v
			}
		}
		return res
	}
	return p
}

// ClusterFacts are the cluster side of the run as data: the scenario the
// probes judge by (KFP's mode, from discovery or --scenario, × whether the
// doctor runs in a pod) and where KFP was found.
func ClusterFacts(t *Target) map[string]string {
	c := t.Cluster
	if c == nil || c.Install == nil {
		return nil
	}
	mode := "unknown-mode"
	switch {
	case c.ModeKnown && c.MultiUser:
		mode = "multi-user"
	case c.ModeKnown:
		mode = "standalone"
	}
	where := "-out-of-cluster"
	if t.InPod || c.Pod != nil {
		where = "-in-cluster"
	}
	f := map[string]string{"scenario": mode + where, "mode": mode}
	if c.Install.Found || c.Install.Namespace != "" {
		f["kfp_namespace"] = c.Install.Namespace
	}
	if c.Install.HowFound != "" {
		f["kfp_found_by"] = c.Install.HowFound
	}
	return f
}

func installProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    "install",
		Title: "find the KFP install in the cluster (Services, the ml-pipeline Deployment's env)",
		Run: func(_ context.Context, t *Target) probe.Result {
			c := t.Cluster
			if c == nil || c.Install == nil {
				return probe.Skipped("no cluster known")
			}
			in := c.Install
			if !in.Found && in.Hidden && c.Pod != nil {
				// The pod reaches KFP by the Service's name whatever its
				// ServiceAccount may read: go on, and say what is assumed.
				return probe.Warned(kfd.DNS, fmt.Sprintf("could not see the KFP install (%s); assuming namespace %s, as the docs' http://%s.%s does",
					strings.Join(in.Problems, "; "), in.Namespace, discover.UIService, in.Namespace))
			}
			if !in.Found {
				// In a pod the SDK's default host is the Service's DNS name,
				// which fails to resolve; outside, the SDK's default is the
				// kube-apiserver's service proxy, which answers "not found".
				id := kfd.APIServerProxy
				if c.Pod != nil {
					id = kfd.DNS
				}
				return probe.Failed(id, "no KFP install found: "+strings.Join(in.Problems, "; ")+" (pass --kfp-namespace, or --host)")
			}
			msg := fmt.Sprintf("KFP in namespace %s (%s); %s", in.Namespace, in.HowFound, in.Mode())
			if in.ModeKnown {
				if in.Audience != "" {
					msg += ", TOKEN_REVIEW_AUDIENCE " + in.Audience
				} else if in.MultiUser {
					msg += ", TOKEN_REVIEW_AUDIENCE unset (default " + DefaultAudience + ")"
				}
			}
			if in.PodDefaultKnown {
				if in.PodDefaultCRD {
					msg += "; PodDefaults served"
				} else {
					msg += "; no PodDefault CRD"
				}
			}
			if len(in.Problems) > 0 {
				msg += "; could not check: " + strings.Join(in.Problems, "; ")
			}
			return probe.Passf(msg)
		},
	}
}

func endpointsProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "endpoints",
		Title:     "ml-pipeline-ui and ml-pipeline have ready endpoints",
		DependsOn: []string{"install"},
		Run: func(_ context.Context, t *Target) probe.Result {
			if t.Cluster == nil || t.Cluster.Install == nil {
				return probe.Skipped("no cluster known")
			}
			in := t.Cluster.Install
			if !in.Found {
				return probe.Skipped("the install could not be seen, nor its endpoints")
			}
			var seen []string
			for _, s := range []discover.Service{in.UI, in.API} {
				where := in.Namespace + "/" + s.Name
				switch {
				case !s.Exists:
					return probe.Failed(kfd.DNS, "no Service "+where+": the name does not resolve in the cluster")
				case !s.EndpointsKnown:
					return probe.Skipped("cannot see the endpoints of " + where + " (" + strings.Join(in.Problems, "; ") + ")")
				case s.Ready == 0:
					return probe.Failed(kfd.BackendNotReady, fmt.Sprintf("service %s has no ready endpoint (%d not ready): connections to it are refused", where, s.NotReady))
				}
				seen = append(seen, fmt.Sprintf("%s %d ready", s.Name, s.Ready))
			}
			return probe.Passf("endpoints: " + strings.Join(seen, ", "))
		},
	}
}

// tokenInfo reads the claims of the token the client sends; ok is false
// with a reason when there is none to read.
func (t *Target) tokenInfo(ctx context.Context) (*credentials.TokenInfo, string) {
	raw, _, ok, err := t.rawToken(ctx)
	switch {
	case !ok:
		return nil, "no token configured"
	case err != nil:
		return nil, "the token file cannot be read"
	}
	info, err := credentials.InspectToken(raw)
	if err != nil {
		return nil, "the token is not a JWT"
	}
	return info, ""
}

// multiUser says whether the cluster probes that only matter to multi-user
// KFP apply, and why not when they don't.
func (c *Cluster) multiUser() (bool, string) {
	switch {
	case c == nil || c.Install == nil:
		return false, "no cluster known"
	case !c.ModeKnown:
		return false, "the deployment mode is unknown (the ml-pipeline Deployment could not be read; --scenario sets it)"
	case !c.MultiUser:
		return false, "standalone KFP: no TokenReview, no SubjectAccessReview"
	}
	return true, ""
}

func audienceProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "audience",
		Title:     "the token's audience against ml-pipeline's TOKEN_REVIEW_AUDIENCE",
		DependsOn: []string{"install", "token"},
		Run: func(ctx context.Context, t *Target) probe.Result {
			if ok, why := t.Cluster.multiUser(); !ok {
				return probe.Skipped(why)
			}
			in := t.Cluster.Install
			if !in.ModeKnown {
				return probe.Skipped("the ml-pipeline Deployment could not be read, so its TOKEN_REVIEW_AUDIENCE is unknown")
			}
			info, why := t.tokenInfo(ctx)
			if info == nil {
				return probe.Skipped(why)
			}
			want, source := DefaultAudience, "KFP's default; the Deployment does not set TOKEN_REVIEW_AUDIENCE"
			if in.Audience != "" {
				want, source = in.Audience, "TOKEN_REVIEW_AUDIENCE on "+in.Namespace+"/"+discover.APIDeployment
			}
			aud := "[" + strings.Join(info.Audience, ", ") + "]"
			if !info.HasAudience(want) {
				// The kube-apiserver's TokenReview refuses any token whose
				// audiences lack the one asked for: this is certain.
				// The kube-apiserver's TokenReview answers first, so KFP's
				// 401 carries its words (kfp-recorded-replies.md), not KFP's
				// own audience check's.
				return probe.Failed(kfd.TokenAudience, fmt.Sprintf("token for %s has audience %s, but ml-pipeline reviews tokens for %q (%s): KFP will answer 401 with the TokenReview's \"token audiences %q is invalid for the target audiences %q\"",
					info.Who(), aud, want, source, info.Audience, []string{want}))
			}
			return probe.Passf(fmt.Sprintf("token audience %s includes %q (%s)", aud, want, source))
		},
	}
}

func rbacProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "rbac",
		Title:     "replay KFP's SubjectAccessReview: list experiments in the namespace",
		DependsOn: []string{"install", "token"},
		Run: func(ctx context.Context, t *Target) probe.Result {
			if ok, why := t.Cluster.multiUser(); !ok {
				return probe.Skipped(why)
			}
			ns := t.namespace()
			if ns == "" {
				return probe.Skipped("no --namespace: nothing to authorize in")
			}
			info, why := t.tokenInfo(ctx)
			if info == nil {
				return probe.Skipped(why)
			}
			if info.Namespace == "" || info.ServiceAccount == "" {
				return probe.Skipped("the token names no ServiceAccount, so the identity KFP's TokenReview returns is unknown")
			}
			if t.Cluster.Kube == nil {
				return probe.Skipped("no Kubernetes client to ask with")
			}
			user := info.Who()
			attrs := kfpauthz.ListExperiments(ns)
			what := kfpauthz.Describe(user, attrs)
			// Exactly what KFP sends: the user and the resource, no groups,
			// so RoleBindings to groups do not count here either.
			got, err := kfpauthz.Ask(ctx, t.Cluster.Kube.SubjectAccessReviews(), user, attrs)
			switch {
			case apierrors.IsForbidden(err):
				asker := "your kubeconfig's user"
				if t.Cluster.Pod != nil {
					asker = "this pod's ServiceAccount"
				}
				return probe.Skipped(asker + " may not create subjectaccessreviews (forbidden), so KFP's check cannot be replayed: " + what)
			case err != nil:
				return probe.Skipped(fmt.Sprintf("SubjectAccessReview failed (%v), so KFP's check cannot be replayed: %s", err, what))
			case got.Status.Allowed:
				return probe.Passf("SubjectAccessReview allows " + what + ", as KFP will ask it")
			}
			msg := "SubjectAccessReview denies " + what + ": KFP will answer 403 \"is not authorized\""
			if got.Status.Reason != "" {
				msg += " (reason: " + got.Status.Reason + ")"
			}
			if got.Status.EvaluationError != "" {
				msg += " (evaluation error: " + got.Status.EvaluationError + ")"
			}
			return probe.Failed(kfd.RBACDenied, msg)
		},
	}
}

// The PodDefault Kubeflow ships selects pods with this label.
const accessLabel = kubeflow.AccessLabel

// workflowLabel is the label Argo's workflow controller puts on every pod of
// a workflow: the pods of a KFP run's steps.
const workflowLabel = "workflows.argoproj.io/workflow"

func podDefaultProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "poddefault",
		Title:     "in a pod: a PodDefault mounts the KFP token",
		DependsOn: []string{"install"},
		Run: func(ctx context.Context, t *Target) probe.Result {
			c := t.Cluster
			if c == nil || c.Pod == nil {
				return probe.Skipped("not running in a pod")
			}
			if ok, why := c.multiUser(); !ok {
				return probe.Skipped(why)
			}
			switch {
			case t.Bearer != nil:
				return probe.Skipped("a static token is configured; no token file needed")
			case t.TokenFile != nil:
				if _, err := t.TokenFile.Read(ctx); err == nil {
					return probe.Passf("the token file " + t.TokenFile.Path + " is there")
				}
			}
			return explainMissingToken(ctx, c)
		},
	}
}

// explainMissingToken looks for the PodDefault that should have mounted the
// token and says which part of the chain is missing.
func explainMissingToken(ctx context.Context, c *Cluster) probe.Result {
	ns, name := c.Pod.Namespace, c.Pod.Name
	fail := func(format string, args ...any) probe.Result {
		return probe.Failed(kfd.NoTokenFile, "no KFP token file in this pod: "+fmt.Sprintf(format, args...))
	}
	if c.Install.PodDefaultKnown && !c.Install.PodDefaultCRD {
		return fail("the cluster serves no PodDefaults (Kubeflow's admission webhook is not installed); mount a projected token with audience %s yourself", DefaultAudience)
	}
	if c.Dynamic == nil || c.Kube == nil || ns == "" {
		return fail("cannot look up this pod's PodDefaults (no client or namespace)")
	}
	var podLabels labels.Set
	if name != "" {
		pod, err := c.Kube.Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fail("cannot read this pod %s/%s to match its labels: %s", ns, name, shortReason(err))
		}
		podLabels = pod.Labels
	}
	// A pipeline step's pod is the workflow controller's: no PodDefault
	// was meant for it, and kfp.Client() in it has no token to send.
	if wf := podLabels[workflowLabel]; wf != "" {
		return probe.Failed(kfd.PipelineStep, fmt.Sprintf("no KFP token file in this pod: %s of workflow %s (label %s), which no PodDefault selects: mount a projected token with audience %s in the step, and bind the step's ServiceAccount to kubeflow-edit",
			SayPipelineStep, wf, workflowLabel, DefaultAudience))
	}
	list, err := c.Dynamic.Resource(PodDefaultGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("cannot list poddefaults in %s: %s", ns, shortReason(err))
	}
	if len(list.Items) == 0 {
		return fail("namespace %s has no PodDefault; add the one that mounts the token for pods labelled %s: \"true\"", ns, accessLabel)
	}
	var misses []string
	for i := range list.Items {
		pd := &list.Items[i]
		sel, want, err := podDefaultSelector(pd)
		if err != nil {
			misses = append(misses, fmt.Sprintf("PodDefault %s: %v", pd.GetName(), err))
			continue
		}
		if podLabels != nil && sel.Matches(podLabels) {
			return fail("PodDefault %s selects this pod but its token is not mounted: the pod was created before the PodDefault, or the webhook did not run; recreate the pod", pd.GetName())
		}
		var missing []string
		for _, k := range sortedKeys(want) {
			if v, ok := podLabels[k]; !ok || v != want[k] {
				missing = append(missing, fmt.Sprintf("%s: %q", k, want[k]))
			}
		}
		misses = append(misses, fmt.Sprintf("PodDefault %s needs label %s", pd.GetName(), strings.Join(missing, ", ")))
	}
	if podLabels == nil {
		return fail("this pod's name is unknown ($HOSTNAME unset), so its labels cannot be matched: %s", strings.Join(misses, "; "))
	}
	return fail("no PodDefault in %s selects this pod: %s, which pod %s lacks", ns, strings.Join(misses, "; "), name)
}

// podDefaultSelector reads spec.selector; want is its matchLabels, which
// is how every PodDefault we know selects.
func podDefaultSelector(pd *unstructured.Unstructured) (labels.Selector, map[string]string, error) {
	raw, found, err := unstructured.NestedMap(pd.Object, "spec", "selector")
	if err != nil || !found {
		return nil, nil, errors.New("no spec.selector")
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, nil, err
	}
	return sel, ls.MatchLabels, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func shortReason(err error) string {
	if apierrors.IsForbidden(err) {
		// "forbidden (User … cannot list resource "poddefaults" …)": the
		// permission the doctor's ServiceAccount lacks.
		return discover.Reason(err)
	}
	return err.Error()
}
