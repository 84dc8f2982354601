package doctor

import (
	"context"
	"errors"
	"fmt"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// wantsCluster: the cluster flags always bring the cluster in; with no host
// at all the doctor looks for one; with only --host it stays off the cluster,
// as before these flags existed.
func wantsCluster(cfg Config, given GivenHost) bool {
	if cfg.Kubeconfig != "" || cfg.KubeContext != "" || cfg.KFPNamespace != "" || cfg.SDKDefaultHost || (cfg.Scenario != "" && cfg.Scenario != ScenarioAuto) {
		return true
	}
	return given.Value == ""
}

// clusterSite is the cluster side of a plan: what was found, the scenario,
// and the port-forward to stop afterwards. It is written by openCluster only.
type clusterSite struct {
	cluster         *probes.Cluster
	scenario        scenario
	hostFromInstall bool
	details         []string
	stop            func()
	// source is how the cluster was reached ("kubeconfig context x", "in-cluster
	// ServiceAccount"); contextNamespace the kubeconfig context's namespace
	// ("" in a pod or when the context sets none).
	source           string
	contextNamespace string
	// host is the host= the cluster side settled on when none was given:
	// the doctor's port-forward, or the Service's name when nothing is there
	// to reach; "" leaves it to the SDK's own rules (in a pod, the
	// kube-apiserver's proxy).
	host string
	// portForward is the local address of the doctor's port-forward ("" for
	// none); kubeServer and proxyTransport are the kubeconfig's server and
	// transport when the SDK's no-host default outside a pod is checked.
	portForward    string
	kubeServer     string
	proxyTransport http.RoundTripper
}

// openMeshCluster is the pod's own view of the cluster, for the mesh probe
// of a run given a host in a pod: its ServiceAccount's clients and the pod.
// nil outside a pod, or when the pod's config cannot be read (the mesh
// probe is then left out, as any cluster check is without a cluster).
func openMeshCluster(cfg Config, s Seams, given GivenHost, d Deadlines, red *redact.Redactor) *probes.Cluster {
	pod, inPod := discover.InPod(s.Getenv, s.ReadFile, s.ServiceAccountDir)
	if !inPod || s.InClusterConfig == nil {
		return nil
	}
	rc, _, _, err := restConfig(context.Background(), cfg, s, given, d, true, red)
	if err != nil {
		return nil
	}
	kube, err := kubeapi.New(rc)
	if err != nil {
		return nil
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil
	}
	return &probes.Cluster{Kube: kube, Dynamic: dyn, Pod: pod}
}

func (s *clusterSite) close() {
	if s.stop != nil {
		s.stop()
	}
}

// restConfig is the Kubernetes client configuration the run uses: the pod's
// ServiceAccount in a pod (unless a kubeconfig is named), else the
// kubeconfig, with --as/--as-group and the KubeCall deadline applied, as
// kubectl applies them.
func restConfig(ctx context.Context, cfg Config, s Seams, given GivenHost, d Deadlines, inPod bool, red *redact.Redactor) (*rest.Config, string, string, error) {
	var rc *rest.Config
	var source, contextNS string
	switch {
	case inPod && cfg.Kubeconfig == "" && cfg.KubeContext == "":
		c, err := s.InClusterConfig()
		if err != nil {
			return nil, "", "", usage("in a pod, but its ServiceAccount config cannot be loaded: %w (pass --kubeconfig or --host)", err)
		}
		rc = rest.CopyConfig(c)
		source = "in-cluster ServiceAccount"
	default:
		c, ns, err := discover.Kubeconfig(ctx, cfg.Kubeconfig, cfg.KubeContext, d.KubeCall)
		if errors.Is(err, discover.ErrNoKubeconfig) && given.Value == "" {
			return nil, "", "", usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s, or pass --kubeconfig to let the doctor find KFP (%v)", EnvHost, err)
		}
		if err != nil {
			return nil, "", "", usage("--kubeconfig/--context: %w", err)
		}
		rc, contextNS = c, ns
		source = "kubeconfig"
		if cfg.KubeContext != "" {
			source += " context " + cfg.KubeContext
		}
	}
	rc.Timeout = d.KubeCall
	if cfg.Impersonate != "" {
		rc.Impersonate = rest.ImpersonationConfig{UserName: cfg.Impersonate, Groups: append([]string(nil), cfg.ImpersonateGroups...)}
		source += " as " + cfg.Impersonate
	}
	if s.WrapKube != nil {
		rc.Wrap(s.WrapKube)
	}
	// The kubeconfig's credentials are secrets of the run like --token:
	// an API server may hand them back in an error, in any form.
	addKubeCredentials(red, rc)
	// An exec plugin's or a token file's credential exists only once a
	// request carries it: learn it from the request, before it leaves.
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return learnCredentials{rt, red} })
	return rc, source, contextNS, nil
}

// openCluster connects to the cluster, finds KFP, settles the scenario and,
// when no host was given, where KFP can be reached from here: the Service's
// DNS name in a pod, a port-forward outside. It reads cfg and writes only
// the site it returns.
func openCluster(ctx context.Context, cfg Config, s Seams, given GivenHost, d Deadlines, red *redact.Redactor) (*clusterSite, error) {
	forced, isForced, err := parseScenario(cfg.Scenario)
	if err != nil {
		return nil, err
	}
	pod, inPod := discover.InPod(s.Getenv, s.ReadFile, s.ServiceAccountDir)
	rc, source, contextNS, err := restConfig(ctx, cfg, s, given, d, inPod, red)
	if err != nil {
		return nil, err
	}
	kube, err := kubeapi.New(rc)
	if err != nil {
		return nil, usage("client for %s: %w", rc.Host, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, usage("client for %s: %w", rc.Host, err)
	}
	// Discovery gets half of what is left of the run, never all of it: an
	// API server that never answers must leave the probes time to say so
	// (the install probe fails, exit 1) rather than leave them none (KFD040,
	// a run that checked nothing).
	dctx, cancel := context.WithTimeout(ctx, discoveryBudget(ctx))
	in, err := discover.Find(dctx, kube, discover.Options{Namespace: cfg.KFPNamespace, CallTimeout: d.KubeCall})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("finding KFP: %w", err)
	}

	sc := scenario{multiUser: in.MultiUser, modeKnown: in.ModeKnown, inside: inPod}
	how := "guessed from "
	if in.ModeKnown {
		how += "MULTIUSER on " + in.Namespace + "/" + discover.APIDeployment
	} else {
		how += "no readable ml-pipeline Deployment"
	}
	if inPod {
		how += " and running in pod " + pod.Namespace + "/" + pod.Name
	} else {
		how += " and running outside a pod"
	}
	if isForced {
		sc, how = forced, "from --scenario"
	}
	site := &clusterSite{
		scenario:         sc,
		source:           source,
		contextNamespace: contextNS,
		cluster:          &probes.Cluster{Install: in, Kube: kube, Dynamic: dyn, MultiUser: sc.multiUser, ModeKnown: sc.modeKnown},
		details:          []string{fmt.Sprintf("scenario %s (%s)", sc, how)},
	}
	if inPod {
		site.cluster.Pod = pod
	}

	if given.Value != "" {
		site.details = append(site.details, "host as given; cluster via "+source)
		return site, nil
	}
	site.hostFromInstall = true
	ns := in.Namespace
	if ns == "" {
		ns = discover.DefaultNamespace
	}
	svcAddr := discover.UIService + "." + ns
	switch {
	case inPod:
		// kfp.Client() with no host in a pod: _load_config's in-cluster
		// default, the API server's Service in namespace= (sdkmodel), with
		// the default credentials. The plan asks the model for it.
		how := "host: kfp.Client()'s in-cluster default (found via " + source + ")"
		if !in.Found && in.Hidden {
			how = "host: kfp.Client()'s in-cluster default; KFP's namespace could not be looked up (via " + source + ")"
		}
		site.details = append(site.details, how)
	case !in.Found:
		// Nothing to reach: the install probe fails and the probes that
		// need the host are skipped, so this host is never dialled.
		site.host = "http://" + svcAddr
		site.details = append(site.details, "cluster via "+source)
	case cfg.SDKDefaultHost:
		// kfp.Client() with no host outside a pod: the kube-apiserver's
		// service proxy to ml-pipeline:http, with the kubeconfig's
		// credentials. The apiserver then dials a pod IP itself: refuse
		// where those IPs are fake (kwok), before any request is made.
		if why := refuseServiceProxy(ctx, kube); why != "" {
			proxied := sdkmodel.Resolve(sdkmodel.Inputs{Namespace: cfg.Namespace, Kubeconfig: sdkmodel.Kubeconfig{Loaded: true, Server: rc.Host}})
			return nil, usage("--sdk-default-host: kfp.Client() with no host outside a pod goes through the kube-apiserver's service proxy (%s); not checked on this cluster: %s", proxied.URL, why)
		}
		tr, err := rest.TransportFor(rc)
		if err != nil {
			return nil, usage("--sdk-default-host: the kubeconfig's transport: %w", err)
		}
		site.kubeServer, site.proxyTransport = rc.Host, tr
		site.details = append(site.details, "host: kfp.Client()'s default outside a pod, the kube-apiserver's service proxy (via "+source+")")
	default:
		local, stop, err := portForward(ctx, rc, in)
		if err != nil {
			return nil, err
		}
		site.stop = stop
		site.portForward = local
		site.host = "http://" + local
		site.details = append(site.details, fmt.Sprintf("host: port-forward %s → svc/%s:%d (found via %s); kfp.Client() with no host would use the kube-apiserver's service proxy instead (--sdk-default-host)", local, svcAddr, uiPort(in), source))
	}
	return site, nil
}

// kwokNodeAnnotation marks the nodes kwok fakes: their pods' IPs are on
// no machine.
const kwokNodeAnnotation = discover.KwokNodeAnnotation

// refuseServiceProxy says why the kube-apiserver must not be asked to proxy
// to KFP's pods here, or "" when it may: every node must be a real one,
// which needs the nodes to be readable.
func refuseServiceProxy(ctx context.Context, kube kubeapi.Interface) string {
	ctx, cancel := context.WithTimeout(ctx, discover.DefaultCallTimeout)
	defer cancel()
	nodes, err := kube.Nodes().List(ctx, metav1.ListOptions{Limit: 500})
	switch {
	case err != nil:
		return fmt.Sprintf("cannot tell whether the nodes are real (listing nodes: %v); the proxy would make the kube-apiserver dial a pod IP", err)
	case len(nodes.Items) == 0:
		return "the cluster has no nodes, so no pod IP behind ml-pipeline to proxy to"
	}
	for _, n := range nodes.Items {
		if _, ok := n.Annotations[kwokNodeAnnotation]; ok {
			return fmt.Sprintf("node %s is one of kwok's fake nodes (annotation %s): the pods' IPs are on no machine, and the kube-apiserver would dial them off this one; the service-proxy path needs a cluster with real pod networking (kfp-connect's node provider, kind, a real cluster)", n.Name, kwokNodeAnnotation)
		}
	}
	return ""
}

func uiPort(in *discover.Install) int32 {
	if in.UI.Port != 0 {
		return in.UI.Port
	}
	return 80
}

// portForward serves a local port joined to ml-pipeline-ui through a ready
// pod behind the Service, as `kubectl port-forward svc/ml-pipeline-ui 0:80`.
func portForward(ctx context.Context, rc *rest.Config, in *discover.Install) (string, func(), error) {
	d, err := svcdial.New(rc, in.Namespace)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", in.Namespace, discover.UIService, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return "", nil, fmt.Errorf("listening for the port-forward to %s/%s: %w", in.Namespace, discover.UIService, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Forward(fctx, ln, fmt.Sprintf("%s.%s:%d", discover.UIService, in.Namespace, uiPort(in)))
	}()
	stop := func() {
		cancel()
		<-done
		d.Close()
	}
	return ln.Addr().String(), stop, nil
}

// discoveryBudget is half of the time left before ctx's deadline (all of a
// deadline-free context's discovery is bounded per call anyway).
func discoveryBudget(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Duration(math.MaxInt64)
	}
	return time.Until(dl) / 2
}

// addKubeCredentials registers the static credentials of a client
// configuration.
func addKubeCredentials(red *redact.Redactor, rc *rest.Config) {
	red.Add(rc.BearerToken, rc.Password, string(rc.KeyData))
}

// learnCredentials registers the credential each request to the API server
// carries with the redactor, then sends it.
type learnCredentials struct {
	next http.RoundTripper
	red  *redact.Redactor
}

func (l learnCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	if v := req.Header.Get("Authorization"); v != "" {
		if _, cred, ok := strings.Cut(v, " "); ok {
			l.red.Add(cred)
		}
		l.red.Add(v)
	}
	return l.next.RoundTrip(req)
}
