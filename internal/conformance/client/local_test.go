package client

import (
	"slices"
	"testing"
)

// The addresses an emulated pod's SDK is given forwarders for must be the
// ones it dials: a missing one sends the SDK to the machine's own resolver.
func TestSDKDials(t *testing.T) {
	for _, tc := range []struct {
		host, namespace string
		want            []string
	}{
		{"", "", []string{"ml-pipeline.kubeflow.svc.cluster.local:8888"}},
		// kfp.Client(namespace=…) formats its in-cluster default with it.
		{"", "team-a", []string{"ml-pipeline.team-a.svc.cluster.local:8888"}},
		{"http://ml-pipeline-ui.kubeflow", "team-a", []string{"ml-pipeline.team-a.svc.cluster.local:8888", "ml-pipeline-ui.kubeflow:80"}},
		{"https://ml-pipeline-ui.kubeflow", "", []string{"ml-pipeline.kubeflow.svc.cluster.local:8888", "ml-pipeline-ui.kubeflow:443"}},
		{"http://ml-pipeline-ui:8888/pipeline", "", []string{"ml-pipeline.kubeflow.svc.cluster.local:8888", "ml-pipeline-ui:8888"}},
		{"http://10.96.0.12:8888", "", []string{"ml-pipeline.kubeflow.svc.cluster.local:8888", "10.96.0.12:8888"}},
	} {
		if got := sdkDials(tc.host, tc.namespace); !slices.Equal(got, tc.want) {
			t.Errorf("sdkDials(%q, %q) = %v, want %v", tc.host, tc.namespace, got, tc.want)
		}
	}
}
