// Package outcluster is standalone KFP reached from a laptop:
// `kubectl port-forward svc/ml-pipeline-ui 3000:80`, then http://localhost:3000;
// or kfp.Client() with no host, which the SDK sends through the kube-apiserver's
// service proxy (a path that runs only where pod IPs are real).
package outcluster

import (
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
	cf "github.com/kfp-connect/kfp-connect/scenarios/clientfault"
)

var uiForward = &s.PortForward{Service: kubeflow.UIServer, Port: 80}

// Scenario is standalone KFP, client outside the cluster.
var Scenario = s.Scenario{
	Name:     "standalone/out-of-cluster",
	Mode:     kubeflow.Standalone,
	Location: s.OutOfCluster,
	Paths: []s.Path{
		{Name: "port-forward", Doc: "kubectl port-forward svc/ml-pipeline-ui 3000:80; kfp.Client(host=\"http://localhost:3000\")",
			PortForward: uiForward},
		{Name: "port-forward-pipeline-prefix", Doc: "the same with the gateway's /pipeline prefix, which the UI server strips",
			PortForward: uiForward, Host: "/pipeline"},
		// client.py _load_config: no host, not in a pod → load_kube_config,
		// then host + '/' + _KUBE_PROXY_PATH.format(namespace).
		{Name: "service-proxy", Doc: "kfp.Client() with no host outside a pod: the kubeconfig's server + /api/v1/namespaces/kubeflow/services/ml-pipeline:http/proxy/",
			ServiceProxy: true},
	},
	Faults: []s.Fault{
		{Name: "ui-scaled-to-zero", Doc: "the UI Deployment has no replicas; the port-forward has no pod to reach",
			Scale: &s.Scale{Namespace: kubeflow.Namespace, Deployment: kubeflow.UIServer, Replicas: 0}},
		{Name: "api-server-down", Doc: "the API server Deployment has no replicas; the UI still answers its healthz",
			Scale: &s.Scale{Namespace: kubeflow.Namespace, Deployment: kubeflow.APIServer, Replicas: 0}},
		{Name: "namespace-sent", Doc: "a namespace passed to standalone KFP, which refuses it on writes",
			Client: cf.Namespace("namespace-1")},
		{Name: "port-forward-not-running", Doc: "the host's port has no port-forward behind it",
			Client: cf.Port(1)},
		{Name: "prefix-typo", Doc: "a path that is not KFP's, such as /pipelines",
			Client: cf.Suffix("/pipelines")},
	},
	Cases: []s.Case{
		{Path: "port-forward", Expect: s.Succeeds},
		{Path: "port-forward-pipeline-prefix", Expect: s.Succeeds},
		{Path: "port-forward", Fault: "ui-scaled-to-zero", Expect: s.Fails("healthz", kfd.BackendNotReady)},
		{Path: "port-forward", Fault: "api-server-down", Expect: s.Fails("healthz", kfd.BackendNotReady)},
		{Path: "port-forward-pipeline-prefix", Fault: "api-server-down", Expect: s.Fails("healthz", kfd.BackendNotReady)},
		{Path: "port-forward", Fault: "namespace-sent", Expect: s.Warns("mode", kfd.NamespaceSingleUser)},
		{Path: "port-forward", Fault: "port-forward-not-running", Expect: s.Fails("healthz", kfd.NothingListening)},
		{Path: "port-forward", Fault: "prefix-typo", Expect: s.Fails("healthz", kfd.NotKFP)},
		{Path: "service-proxy", Expect: s.Succeeds},
	},
}
