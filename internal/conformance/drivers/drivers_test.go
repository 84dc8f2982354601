package drivers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRealNodes(t *testing.T) {
	fake := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-000000", Annotations: map[string]string{discover.KwokNodeAnnotation: "fake"}}}
	real := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}
	var why string
	if realNodes([]corev1.Node{fake}, &why) || why != "" {
		t.Errorf("kwok's nodes: real, or %q", why)
	}
	if !realNodes([]corev1.Node{real}, &why) {
		t.Error("a real node counted as fake")
	}
	if realNodes(nil, &why) || why == "" {
		t.Error("no nodes: want a reason no client pod can run")
	}
}

func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	if _, _, err := New(ctx, Options{Provider: "minikube"}); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
	if _, _, err := New(ctx, Options{Provider: "kwok", Context: "x"}); err == nil || !strings.Contains(err.Error(), "existing") {
		t.Errorf("a context for kwok: %v", err)
	}
	if _, _, err := New(ctx, Options{Provider: "existing", ImageArchives: []string{"/x.tar"}}); err == nil || !strings.Contains(err.Error(), "load-image") {
		t.Errorf("archives for existing: %v", err)
	}
	if _, _, err := New(ctx, Options{Provider: "node", ImageArchives: []string{"/no/such.tar"}}); err == nil || !strings.Contains(err.Error(), "not a readable file") {
		t.Errorf("a missing archive: %v", err)
	}
}
