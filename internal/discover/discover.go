// Package discover finds a Kubeflow Pipelines install through the Kubernetes
// API, the way an operator would with kubectl: the namespace holding the
// ml-pipeline-ui and ml-pipeline Services, the API server Deployment's
// MULTIUSER and TOKEN_REVIEW_AUDIENCE, the ready endpoints behind both
// Services, and whether the PodDefault CRD is served.
//
// A user's kubeconfig may be allowed to see only part of this. Every lookup
// that RBAC forbids (or that times out) is recorded as a Problem and the rest
// carries on: the doctor reports what it could not see, it never stops there.
package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// The names a KFP install uses, in every distribution we know.
const (
	UIService        = kubeflow.UIServer
	APIService       = kubeflow.APIServer
	APIDeployment    = kubeflow.APIServer
	APIContainer     = kubeflow.APIServerContainer
	DefaultNamespace = kubeflow.Namespace
	// PodDefaultGroupVersion serves the poddefaults resource when Kubeflow's
	// admission webhook is installed.
	PodDefaultGroupVersion = kubeflow.PodDefaultGroupVersion
)

// DefaultCallTimeout bounds each API call when Options leave it zero.
const DefaultCallTimeout = 3 * time.Second

// Options say where to look.
type Options struct {
	// Namespace is --kfp-namespace; "" searches the cluster.
	Namespace string
	// CallTimeout bounds each API call; zero means DefaultCallTimeout.
	CallTimeout time.Duration
}

// Service is what discovery saw of one KFP Service.
type Service struct {
	Name   string
	Exists bool
	// Missing is true when the apiserver said there is no such Service
	// (Exists is also false when it could not be read).
	Missing bool
	// Port is the Service port to reach (the one named http, else the first).
	Port int32
	// Ready and NotReady count endpoints; EndpointsKnown is false when they
	// could not be listed.
	Ready, NotReady int
	EndpointsKnown  bool
}

// Install is what discovery found. Found is false when no namespace holds
// ml-pipeline-ui; Problems says what could not be looked at and why.
type Install struct {
	Found     bool
	Namespace string
	// HowFound says how the namespace was chosen, for the report's header.
	HowFound string

	UI, API Service

	// ModeKnown is true when the ml-pipeline Deployment's env was read.
	ModeKnown bool
	MultiUser bool
	// Audience is TOKEN_REVIEW_AUDIENCE as the pod would see it; "" when the
	// Deployment does not set it (KFP's default applies).
	Audience string

	// Hidden is true when KFP was not found only because the lookups were
	// refused (a profile user rarely may read the kubeflow namespace);
	// Namespace is then the one that was tried. In a pod the Service's name
	// still works without any of those permissions.
	Hidden bool

	// PodDefaultCRD is true when the API serves poddefaults; PodDefaultKnown
	// is false when discovery could not tell.
	PodDefaultCRD, PodDefaultKnown bool
	// PodDefaultWebhook is Kubeflow's PodDefault webhook, nil when none is
	// configured; WebhookKnown is false when the configurations could not
	// be listed. Looked for in multi-user installs that serve PodDefaults.
	PodDefaultWebhook *Webhook
	WebhookKnown      bool
	WebhookProblem    string

	Problems []string
}

// Mode renders the deployment mode.
func (in *Install) Mode() string {
	switch {
	case !in.ModeKnown:
		return "mode unknown"
	case in.MultiUser:
		return "multi-user"
	}
	return "standalone"
}

func (in *Install) problem(format string, args ...any) {
	in.Problems = append(in.Problems, fmt.Sprintf(format, args...))
}

// Find looks for the KFP install. Its error is for a broken client only:
// everything the cluster refuses ends up in Install.Problems.
func Find(ctx context.Context, client kubeapi.Interface, opts Options) (*Install, error) {
	if client == nil {
		return nil, errors.New("discover: no Kubernetes client")
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	d := &finder{client: client, timeout: opts.CallTimeout, in: &Install{UI: Service{Name: UIService}, API: Service{Name: APIService}}}
	d.locate(ctx, opts.Namespace)
	if !d.in.Found {
		return d.in, nil
	}
	ns := d.in.Namespace
	d.service(ctx, ns, &d.in.UI)
	d.service(ctx, ns, &d.in.API)
	d.deployment(ctx, ns)
	d.podDefaultCRD(ctx)
	if d.in.MultiUser && d.in.PodDefaultCRD {
		d.podDefaultWebhook(ctx)
	}
	return d.in, nil
}

type finder struct {
	client  kubeapi.Interface
	timeout time.Duration
	in      *Install
}

// call gives one API call its own deadline.
func (d *finder) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// locate picks the namespace: the one asked for, else whichever namespace
// holds ml-pipeline-ui (one cluster-wide list), else — when listing across
// namespaces is forbidden, as for most profile users — the default kubeflow.
func (d *finder) locate(ctx context.Context, ns string) {
	in := d.in
	if ns != "" {
		if d.hasUI(ctx, ns) {
			in.Found, in.Namespace, in.HowFound = true, ns, "from --kfp-namespace"
		}
		return
	}
	cctx, cancel := d.call(ctx)
	list, err := d.client.Services(metav1.NamespaceAll).List(cctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", UIService).String(),
	})
	cancel()
	if err == nil {
		var found []string
		for _, s := range list.Items {
			// The field selector narrows the list on a real apiserver; the
			// name check keeps the answer right where it is ignored.
			if s.Name == UIService {
				found = append(found, s.Namespace)
			}
		}
		slices.Sort(found)
		switch {
		case len(found) == 0:
			in.problem("no Service %s in any namespace", UIService)
		case slices.Contains(found, DefaultNamespace) && len(found) > 1:
			// Several installs: the documented one wins, and the report says
			// which others exist so the user can pick with --kfp-namespace.
			in.Found, in.Namespace = true, DefaultNamespace
			in.HowFound = fmt.Sprintf("the default; service %s also in %s: pick with --kfp-namespace", UIService, strings.Join(without(found, DefaultNamespace), ", "))
		default:
			in.Found, in.Namespace = true, found[0]
			in.HowFound = fmt.Sprintf("the namespace holding service %s", UIService)
			if len(found) > 1 {
				in.HowFound += fmt.Sprintf("; also in %s: pick with --kfp-namespace", strings.Join(found[1:], ", "))
			}
		}
		return
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		// No answer from the API at all: asking again per namespace would
		// only repeat the same network error.
		in.problem("cannot reach the Kubernetes API: %v", err)
		return
	}
	in.problem("cannot list services in all namespaces: %s", reason(err))
	if d.hasUI(ctx, DefaultNamespace) {
		in.Found, in.Namespace, in.HowFound = true, DefaultNamespace, "the default; services could not be listed cluster-wide"
	}
}

func without(list []string, s string) []string {
	var out []string
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

func (d *finder) hasUI(ctx context.Context, ns string) bool {
	cctx, cancel := d.call(ctx)
	defer cancel()
	_, err := d.client.Services(ns).Get(cctx, UIService, metav1.GetOptions{})
	switch {
	case err == nil:
		return true
	case apierrors.IsNotFound(err):
		d.in.problem("no Service %s in namespace %s", UIService, ns)
	default:
		d.in.problem("cannot get service %s/%s: %s", ns, UIService, reason(err))
		if apierrors.IsForbidden(err) {
			d.in.Hidden, d.in.Namespace = true, ns
		}
	}
	return false
}

// service reads a Service and counts its endpoints from EndpointSlices, as
// kube-proxy does: a Service with no ready endpoint refuses connections.
// What cannot be seen goes to the install's problems.
func (d *finder) service(ctx context.Context, ns string, s *Service) {
	if p := d.lookupService(ctx, ns, s); p != "" {
		d.in.problem("%s", p)
	}
}

// lookupService fills s and returns what could not be seen, if anything.
func (d *finder) lookupService(ctx context.Context, ns string, s *Service) string {
	cctx, cancel := d.call(ctx)
	svc, err := d.client.Services(ns).Get(cctx, s.Name, metav1.GetOptions{})
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		s.Missing = true
		return fmt.Sprintf("no Service %s in namespace %s", s.Name, ns)
	case err != nil:
		return fmt.Sprintf("cannot get service %s/%s: %s", ns, s.Name, reason(err))
	}
	s.Exists = true
	s.Port = servicePort(svc)

	cctx, cancel = d.call(ctx)
	eps, err := d.client.EndpointSlices(ns).List(cctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name,
	})
	cancel()
	if err != nil {
		return fmt.Sprintf("cannot list endpointslices in %s: %s", ns, reason(err))
	}
	s.EndpointsKnown = true
	for _, sl := range eps.Items {
		for _, ep := range sl.Endpoints {
			// A nil Ready means ready, as the EndpointSlice API defines it.
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				s.Ready++
			} else {
				s.NotReady++
			}
		}
	}
	return ""
}

// servicePort prefers the port named http (KFP's UI and API Services name
// theirs so), else the first.
func servicePort(svc *corev1.Service) int32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return p.Port
		}
	}
	if len(svc.Spec.Ports) > 0 {
		return svc.Spec.Ports[0].Port
	}
	return 0
}

// deployment resolves the API server container's env as the kubelet would
// for a pod of the Deployment's template, through podenv.ContainerEnv, so a
// configMapKeyRef (how the manifests set MULTIUSER) counts like a literal.
func (d *finder) deployment(ctx context.Context, ns string) {
	cctx, cancel := d.call(ctx)
	dep, err := d.client.Deployments(ns).Get(cctx, APIDeployment, metav1.GetOptions{})
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		d.in.problem("no Deployment %s in namespace %s: the mode and audience are unknown", APIDeployment, ns)
		return
	case err != nil:
		d.in.problem("cannot get deployment %s/%s: %s", ns, APIDeployment, reason(err))
		return
	}
	c := apiContainer(dep.Spec.Template.Spec.Containers)
	if c == nil {
		d.in.problem("deployment %s/%s has no containers", ns, APIDeployment)
		return
	}
	pod := &corev1.Pod{ObjectMeta: dep.Spec.Template.ObjectMeta, Spec: *dep.Spec.Template.Spec.DeepCopy()}
	pod.Namespace, pod.Name = ns, APIDeployment+"-template"
	// Service links add only *_SERVICE_* and *_PORT* variables, never the
	// two we read, and listing services may be forbidden to the user.
	cctx, cancel = d.call(ctx)
	env, err := podenv.ContainerEnv(cctx, d.client, pod, onlyEnv(c, "MULTIUSER", "TOKEN_REVIEW_AUDIENCE"), podenv.WithoutServices())
	cancel()
	if err != nil {
		d.in.problem("cannot resolve the env of %s/%s container %s: %s", ns, APIDeployment, c.Name, reason(err))
		return
	}
	d.in.ModeKnown = true
	// KFP reads MULTIUSER with viper's GetBool: strconv.ParseBool, unset or
	// unparsable is false.
	d.in.MultiUser, _ = strconv.ParseBool(strings.TrimSpace(env["MULTIUSER"]))
	d.in.Audience = env["TOKEN_REVIEW_AUDIENCE"]
}

// onlyEnv is c with only the env entries that names need: those names and,
// transitively, the variables their $(VAR) references expand. The other
// entries are dropped before resolving, so the doctor never reads the
// Secrets the API server's other variables come from (the manifests take
// DBCONFIG_* and OBJECTSTORECONFIG_* from mysql-secret and
// mlpipeline-minio-artifact): its ClusterRole needs no secrets. envFrom is
// kept, since it can set the names too.
func onlyEnv(c *corev1.Container, names ...string) *corev1.Container {
	need := map[string]bool{}
	for _, n := range names {
		need[n] = true
	}
	// Each round adds what the needed values reference; a fixed point is
	// reached within len(c.Env) rounds.
	for changed := true; changed; {
		changed = false
		for _, e := range c.Env {
			if !need[e.Name] || e.ValueFrom != nil {
				continue
			}
			for _, ref := range references(e.Value) {
				if !need[ref] {
					need[ref], changed = true, true
				}
			}
		}
	}
	out := c.DeepCopy()
	out.Env = slices.DeleteFunc(out.Env, func(e corev1.EnvVar) bool { return !need[e.Name] })
	return out
}

// references are the $(VAR) names in an env value ($$ escapes a $).
func references(v string) []string {
	var refs []string
	for i := 0; i+1 < len(v); i++ {
		switch {
		case v[i] != '$':
		case v[i+1] == '$':
			i++
		case v[i+1] == '(':
			if end := strings.IndexByte(v[i:], ')'); end > 0 {
				refs = append(refs, v[i+2:i+end])
				i += end
			}
		}
	}
	return refs
}

func apiContainer(cs []corev1.Container) *corev1.Container {
	for i := range cs {
		if cs[i].Name == APIContainer {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

func (d *finder) podDefaultCRD(ctx context.Context) {
	if ctx.Err() != nil {
		d.in.problem("cannot tell whether PodDefaults are served: %s", ctx.Err())
		return
	}
	cctx, cancel := d.call(ctx)
	defer cancel()
	res, err := d.client.ServerResourcesForGroupVersion(cctx, PodDefaultGroupVersion)
	switch {
	case apierrors.IsNotFound(err):
		d.in.PodDefaultKnown = true
		return
	case err != nil:
		d.in.problem("cannot tell whether PodDefaults are served: %s", reason(err))
		return
	}
	d.in.PodDefaultKnown = true
	for _, r := range res.APIResources {
		if r.Name == "poddefaults" {
			d.in.PodDefaultCRD = true
		}
	}
}

// reason shortens an API error to what a user acts on: "forbidden",
// "timed out", or the message.
// Reason is how a failed API call reads in a problem or a probe's message:
// a refusal names who was refused what, in the apiserver's words.
func Reason(err error) string { return reason(err) }

func reason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		// The apiserver's message names who was refused what ("User
		// \"system:serviceaccount:ns:sa\" cannot list resource \"services\"
		// … at the cluster scope"): that is the permission to grant.
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			if _, who, ok := strings.Cut(status.Status().Message, "is forbidden: "); ok && who != "" {
				return "forbidden (" + who + ")"
			}
		}
		return "forbidden"
	case apierrors.IsUnauthorized(err):
		return "unauthorized (the kubeconfig's credentials were refused)"
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return "timed out"
	}
	return err.Error()
}
