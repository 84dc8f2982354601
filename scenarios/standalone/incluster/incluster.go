// Package incluster is standalone KFP reached from a pod: http://ml-pipeline-ui:80
// from the kubeflow namespace, http://ml-pipeline-ui.kubeflow from another, or
// kfp.Client() with no host, which the SDK points at the API server's Service
// (ml-pipeline.kubeflow.svc.cluster.local:8888; internal/sdkmodel); no
// authentication.
package incluster

import (
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
	cf "github.com/kfp-connect/kfp-connect/scenarios/clientfault"
)

// Scenario is standalone KFP, client inside the cluster.
var Scenario = s.Scenario{
	Name:     "standalone/in-cluster",
	Mode:     kubeflow.Standalone,
	Location: s.InCluster,
	Extra:    []string{"rbac/00-namespaces.yaml"},
	Paths: []s.Path{
		{Name: "same-namespace", Doc: "kfp.Client(host=\"http://ml-pipeline-ui:80\") from a pod in kubeflow",
			Host: "http://ml-pipeline-ui:80", Pod: &s.Pod{Namespace: kubeflow.Namespace, ServiceAccount: "default"}},
		{Name: "other-namespace", Doc: "kfp.Client(host=\"http://ml-pipeline-ui.kubeflow\") from a pod in another namespace",
			Host: "http://ml-pipeline-ui.kubeflow", Pod: &s.Pod{Namespace: "namespace-1", ServiceAccount: "default"}},
		{Name: "cluster-domain", Doc: "the fully qualified Service name",
			Host: "http://ml-pipeline-ui.kubeflow.svc.cluster.local", Pod: &s.Pod{Namespace: "namespace-1", ServiceAccount: "default"}},
		// client.py _load_config: no host and load_incluster_config() →
		// _IN_CLUSTER_DNS_NAME.format(namespace), namespace= defaulting to
		// kubeflow.
		{Name: "sdk-default", Doc: "kfp.Client() with no host from a pod: ml-pipeline.kubeflow.svc.cluster.local:8888",
			Pod: &s.Pod{Namespace: "namespace-1", ServiceAccount: "default"}},
		// The same format with namespace="namespace-1": the Service moves.
		{Name: "sdk-default-namespace-arg", Doc: "kfp.Client(namespace=\"namespace-1\") with no host: ml-pipeline.namespace-1.svc.cluster.local:8888, which does not exist",
			Namespace: "namespace-1", Pod: &s.Pod{Namespace: "namespace-1", ServiceAccount: "default"}},
	},
	Faults: []s.Fault{
		{Name: "service-missing", Doc: "the ml-pipeline-ui Service does not exist",
			Delete: &s.ObjectRef{Kind: "Service", Namespace: kubeflow.Namespace, Name: kubeflow.UIServer}},
		{Name: "no-ready-endpoints", Doc: "ml-pipeline-ui has no ready pod",
			Scale: &s.Scale{Namespace: kubeflow.Namespace, Deployment: kubeflow.UIServer, Replicas: 0}},
		{Name: "wrong-port", Doc: "port 8888 of ml-pipeline-ui, which the Service does not serve",
			Client: cf.Port(8888)},
		{Name: "wrong-namespace", Doc: "a bare Service name from a namespace KFP is not in",
			Client: cf.Host("http://ml-pipeline-ui.namespace-2")},
		{Name: "api-service-missing", Doc: "the ml-pipeline Service (the API server's) does not exist",
			Delete: &s.ObjectRef{Kind: "Service", Namespace: kubeflow.Namespace, Name: kubeflow.APIServer}},
	},
	Cases: []s.Case{
		{Path: "same-namespace", Expect: s.Succeeds},
		{Path: "other-namespace", Expect: s.Succeeds},
		{Path: "cluster-domain", Expect: s.Succeeds},
		{Path: "same-namespace", Fault: "service-missing", Expect: s.Fails("healthz", kfd.DNS)},
		{Path: "other-namespace", Fault: "service-missing", Expect: s.Fails("healthz", kfd.DNS)},
		{Path: "same-namespace", Fault: "no-ready-endpoints", Expect: s.Fails("healthz", kfd.BackendNotReady)},
		{Path: "other-namespace", Fault: "no-ready-endpoints", Expect: s.Fails("healthz", kfd.BackendNotReady)},
		{Path: "same-namespace", Fault: "wrong-port", Expect: s.Fails("healthz", kfd.NothingListening)},
		{Path: "other-namespace", Fault: "wrong-namespace", Expect: s.Fails("healthz", kfd.DNS)},
		{Path: "sdk-default", Expect: s.Succeeds},
		// Without the API server's Service the no-host default has nothing
		// to resolve, while the UI paths above do not care.
		{Path: "sdk-default", Fault: "api-service-missing", Expect: s.Fails("endpoints", kfd.DNS)},
		{Path: "sdk-default-namespace-arg", Expect: s.Fails("healthz", kfd.DNS).AndNames("sdk", kfd.NamespaceNamesService)},
	},
}
