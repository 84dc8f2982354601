package drivers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Existing is a target on the user's cluster: it installs nothing, runs no
// stand-in, and creates only the run's own labelled objects (env.Attach):
// the client or doctor pods, their token Secrets and context ConfigMaps,
// the doctor's read-only RBAC, the scenarios' own namespaces and bindings
// where the cluster lacks them; Close removes them. It sweeps what an
// earlier run left before the first scenario. Where the cluster's pods
// really run, the in-cluster cases are Pods of Image.
type Existing struct {
	Config *rest.Config
	// Cluster names the cluster in reports (the kubeconfig context).
	Cluster string
	// Image is the doctor's image for the in-cluster cases on real pods.
	Image string

	client  kubernetes.Interface
	dyn     dynamic.Interface
	install *discover.Install
	swept   bool
	// noNodes says why no in-cluster case can run ("" when they can).
	noNodes string
}

// Name implements conformance.Target.
func (e *Existing) Name() string { return "existing (" + e.Cluster + ")" }

// realPods connects and tells whether the cluster's pods really run: it has
// nodes and none is kwok's.
func (e *Existing) realPods(ctx context.Context) (bool, error) {
	if err := e.connect(); err != nil {
		return false, err
	}
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nodes, err := e.client.CoreV1().Nodes().List(nctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("listing the nodes, to tell whether a client pod can run there: %w", err)
	}
	return realNodes(nodes.Items, &e.noNodes), nil
}

// realNodes reports whether nodes are real; why says why no client pod
// can run on them at all.
func realNodes(nodes []corev1.Node, why *string) bool {
	if len(nodes) == 0 {
		*why = "the cluster has no nodes to run a client pod on"
	}
	return discover.RealPods(nodes)
}

func (e *Existing) connect() error {
	if e.client != nil {
		return nil
	}
	var err error
	if e.client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return err
	}
	e.dyn, err = dynamic.NewForConfig(e.Config)
	return err
}

// Prepare implements conformance.Target.
func (e *Existing) Prepare(ctx context.Context, sc *scenarios.Scenario, owner env.Owner) (conformance.Prepared, error) {
	var prep conformance.Prepared
	if err := e.init(ctx); err != nil {
		return prep, err
	}
	if !e.swept {
		// A run killed before its clean-up left these; they are no one's now.
		removed, err := env.Sweep(ctx, e.dyn, env.OwnedSelector)
		if err != nil {
			return prep, fmt.Errorf("removing what an earlier run left: %w", err)
		}
		e.swept = true
		if len(removed) > 0 {
			prep.Notes = append(prep.Notes, fmt.Sprintf("removed %d objects an earlier run left: %v", len(removed), removed))
		}
	}
	if e.install.ModeKnown && (e.install.MultiUser != (sc.Mode == kubeflow.MultiUser)) {
		prep.Skip = fmt.Sprintf("the install in namespace %s is %s; this scenario is for %s KFP", e.install.Namespace, e.install.Mode(), sc.Mode)
		return prep, nil
	}
	if sc.Location == scenarios.InCluster && e.noNodes != "" {
		prep.Skip = e.noNodes
		return prep, nil
	}
	admission := e.install.PodDefaultWebhook != nil && e.install.PodDefaultWebhook.Problem == ""
	en, created, err := env.Attach(ctx, e.Config, sc, env.AttachOptions{Owner: owner, DoctorImage: e.Image, Admission: admission})
	if err != nil {
		return prep, err
	}
	if len(created) > 0 {
		prep.Notes = append(prep.Notes, fmt.Sprintf("created the scenario's own objects, labelled %s=%s: %v", env.RunLabel, owner.RunID, created))
	}
	if sc.Location == scenarios.InCluster && en.RealPods {
		prep.Notes = append(prep.Notes, fmt.Sprintf("in-cluster cases run as Pods of %s (imagePullPolicy IfNotPresent)", e.Image))
	}
	prep.Env = en
	prep.Teardown = func(context.Context) error { en.Close(); return nil }
	return prep, nil
}

// init finds the install once: which scenarios apply depends on its mode.
func (e *Existing) init(ctx context.Context) error {
	if e.install != nil {
		return nil
	}
	if err := e.connect(); err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	in, err := discover.Find(fctx, fromclientset.Wrap(e.client), discover.Options{Namespace: kubeflow.Namespace})
	if err != nil {
		return err
	}
	if !in.Found {
		return fmt.Errorf("no KFP install found on cluster %s (no %s Service in namespace %s): %v", e.Cluster, kubeflow.UIServer, kubeflow.Namespace, in.Problems)
	}
	e.install = in
	return nil
}

// Close implements conformance.Target: it removes this run's labelled objects.
func (e *Existing) Close(ctx context.Context, owner env.Owner) ([]string, error) {
	if e.dyn == nil {
		return nil, nil
	}
	return env.Sweep(ctx, e.dyn, env.RunLabel+"="+owner.RunID)
}
