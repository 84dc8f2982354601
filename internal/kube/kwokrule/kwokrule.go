// Package kwokrule is the one home of how the lab points kwok at the
// programs that stand in for a pod's containers: a ClusterPortForward per
// pod, named after the pod's UID, forwarding the pod's ports to addresses on
// the lab's machine; and of reading such a rule back, so a dialer on that
// machine reaches a pod's port where kwok itself would connect.
//
// Why read it back: kwok joins a port-forward stream to its target until
// both directions end, so a target that closes or resets the connection
// (Istio's sidecar refusing plaintext under STRICT mTLS) leaves the client
// waiting instead of seeing the reset a pod network delivers.
package kwokrule

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// Resource is kwok's cluster-scoped port-forward rule.
var Resource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

// GroupVersionPath is where the API serves kwok's rules, if it does.
func GroupVersionPath() string { return "/apis/" + Resource.Group + "/" + Resource.Version }

// Served reports whether the API server of c (a REST client of any group)
// serves kwok's rules.
func Served(ctx context.Context, c rest.Interface) bool {
	_, err := c.Get().AbsPath(GroupVersionPath()).DoRaw(ctx)
	return err == nil
}

// Path is the pod's rule's API path, for a raw GET.
func Path(uid types.UID) string {
	return GroupVersionPath() + "/" + Resource.Resource + "/" + Name(uid)
}

// Name is the rule of the pod with this UID.
func Name(uid types.UID) string { return "kfp-lab-" + string(uid) }

// ManagedBy labels the lab's rules (as the value of managedByLabel).
const ManagedBy = "kfp-connect-lab"

const managedByLabel = "app.kubernetes.io/managed-by"

// Selector is the label selector of the lab's rules: kwok's others forward
// to no program of the lab.
const Selector = managedByLabel + "=" + ManagedBy

// New is the rule forwarding each port of the pod to its address
// ("127.0.0.1:PORT", where kwok connects).
func New(namespace, pod string, uid types.UID, addrs map[int32]string) (*unstructured.Unstructured, error) {
	byTarget := map[string][]any{}
	var targets []string
	for port, addr := range addrs {
		if _, ok := byTarget[addr]; !ok {
			targets = append(targets, addr)
		}
		byTarget[addr] = append(byTarget[addr], int64(port))
	}
	slices.Sort(targets)
	var forwards []any
	for _, addr := range targets {
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("forward target %q: %w", addr, err)
		}
		local, err := strconv.ParseInt(portStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("forward target %q: port is not a number", addr)
		}
		forwards = append(forwards, map[string]any{"ports": byTarget[addr], "target": map[string]any{"address": host, "port": local}})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Resource.GroupVersion().String(),
		"kind":       "ClusterPortForward",
		"metadata":   map[string]any{"name": Name(uid), "labels": map[string]any{managedByLabel: ManagedBy}},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}, "matchNames": []any{pod}},
			"forwards": forwards,
		},
	}}, nil
}

// rule is the part of a ClusterPortForward a dialer reads.
type rule struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchNamespaces []string `json:"matchNamespaces"`
			MatchNames      []string `json:"matchNames"`
		} `json:"selector"`
		Forwards []struct {
			Ports  []int32 `json:"ports"`
			Target *struct {
				Address string `json:"address"`
				Port    int32  `json:"port"`
			} `json:"target"`
		} `json:"forwards"`
	} `json:"spec"`
}

// Target reads a rule (its JSON, as the API returns it) for where kwok
// connects to port of the pod namespace/name: ok is false when the rule is
// not the lab's, selects another pod, or does not forward that port.
func Target(data []byte, namespace, pod string, port int) (addr string, ok bool, err error) {
	var r rule
	if err := json.Unmarshal(data, &r); err != nil {
		return "", false, fmt.Errorf("reading a ClusterPortForward: %w", err)
	}
	sel := r.Spec.Selector
	if r.Metadata.Labels[managedByLabel] != ManagedBy || !slices.Contains(sel.MatchNamespaces, namespace) || !slices.Contains(sel.MatchNames, pod) {
		return "", false, nil
	}
	for _, f := range r.Spec.Forwards {
		if f.Target != nil && slices.Contains(f.Ports, int32(port)) {
			return net.JoinHostPort(f.Target.Address, strconv.Itoa(int(f.Target.Port))), true, nil
		}
	}
	return "", false, nil
}
