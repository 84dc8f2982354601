package kind

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/kindconfigs"
)

// Every file in kindconfigs/ must load the way kind loads it.
func TestKindConfigsLoad(t *testing.T) {
	files, err := fs.Glob(kindconfigs.FS, "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kind configurations: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := fs.ReadFile(kindconfigs.FS, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseConfig(data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKindConfigMultiUserPublishesGateway(t *testing.T) {
	data, err := fs.ReadFile(kindconfigs.FS, "multi-user.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cfg.Nodes {
		for _, pm := range n.ExtraPortMappings {
			if pm.ContainerPort == 30080 && pm.HostPort == 8080 {
				return
			}
		}
	}
	t.Fatal("multi-user.yaml does not map the gateway NodePort 30080 to host port 8080")
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapping: []\n", "extraPortMapping"},
		{"wrong apiVersion", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", "v1alpha4"},
		{"bad role", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: master\n", "not a valid role"},
		{"no control plane", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n", "control-plane"},
		{"port out of range", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 70000}\n", "-1..65535"},
		{"bad listen address", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 8080, listenAddress: localhost}\n", "listen address"},
		{"host port twice", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 8080, listenAddress: 127.0.0.1}\n  - {containerPort: 30081, hostPort: 8080}\n", "bound twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error mentioning %q, got %v", tt.want, err)
			}
		})
	}
}
