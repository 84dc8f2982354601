// Package fix writes the Kubernetes objects that mend a failure the doctor
// named, from what it knows (the subject a token claims, the namespace, the
// audience KFP reviews for), and validates or applies exactly those objects
// by server-side apply. Builders are pure; cluster.go holds the I/O.
//
// Ids it mends: KFD009 (a RoleBinding to kubeflow-edit), KFD004 (Kubeflow's
// access-ml-pipeline PodDefault, and a Pod with the projected token volume),
// KFD003 (TOKEN_REVIEW_AUDIENCE on KFP's API server), KFD005 and KFD006 (the
// AuthorizationPolicy that admits the call, mesh.go).
package fix

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lazyre"
)

// What Kubeflow's manifests and KFP's SDK use (kfp-facts.md; the PodDefault
// is fixtures/kfp/multi-user/60-poddefaults.yaml, as the Kubeflow docs give it).
const (
	DefaultAudience    = kubeflow.Audience // KFP's TOKEN_REVIEW_AUDIENCE default
	EditRole           = kubeflow.EditRole
	PodDefaultName     = kubeflow.AccessPodDefault
	PodDefaultLabel    = kubeflow.AccessLabel
	TokenDir           = kubeflow.TokenDir
	TokenPath          = kubeflow.TokenPath
	TokenVolume        = "volume-kf-pipeline-token"
	TokenExpiry        = kubeflow.TokenExpiry
	APIServerName      = kubeflow.APIServer          // KFP's API server Deployment
	APIServerContainer = kubeflow.APIServerContainer // its container in Kubeflow's manifests
	FieldManager       = "kfp-doctor-fix"
)

// Manifest is one object that mends one failure, with the comment printed
// above it.
type Manifest struct {
	ID      kfd.ID
	Comment []string
	Object  *unstructured.Unstructured
}

// GVR is the resource the object is served as.
func (m Manifest) GVR() (schema.GroupVersionResource, error) {
	gvk := m.Object.GroupVersionKind()
	res, ok := resources[gvk]
	if !ok {
		return schema.GroupVersionResource{}, fmt.Errorf("fix: no resource known for %s", gvk)
	}
	return gvk.GroupVersion().WithResource(res), nil
}

var resources = map[schema.GroupVersionKind]string{
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}:      "rolebindings",
	{Group: "kubeflow.org", Version: "v1alpha1", Kind: "PodDefault"}:              "poddefaults",
	{Version: "v1", Kind: "Pod"}:                                                  "pods",
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                            "deployments",
	{Group: "security.istio.io", Version: "v1beta1", Kind: "AuthorizationPolicy"}: "authorizationpolicies",
}

// Body is the object as YAML: what is printed, dry-run and applied.
func (m Manifest) Body() ([]byte, error) {
	return yaml.Marshal(m.Object.Object)
}

// Describe names the object as kubectl would: kind/name in namespace.
func (m Manifest) Describe() string {
	return fmt.Sprintf("%s/%s in %s", m.Object.GetKind(), m.Object.GetName(), m.Object.GetNamespace())
}

// YAML renders manifests as one multi-document stream, each document under
// its comment.
func YAML(ms []Manifest) ([]byte, error) {
	var b bytes.Buffer
	for i, m := range ms {
		if i > 0 {
			b.WriteString("---\n")
		}
		for _, c := range m.Comment {
			b.WriteString("# " + c + "\n")
		}
		body, err := m.Body()
		if err != nil {
			return nil, fmt.Errorf("fix: %s: %w", m.Describe(), err)
		}
		b.Write(body)
	}
	return b.Bytes(), nil
}

// Subject is whom KFP's SubjectAccessReview asks about: a ServiceAccount
// (its user name is system:serviceaccount:NS:NAME) or a user (the email the
// gateway puts in kubeflow-userid).
type Subject struct {
	User                string // as KFP names it
	SANamespace, SAName string // set for a ServiceAccount
}

// ParseSubject reads a user name as Kubernetes spells it.
func ParseSubject(user string) (Subject, error) {
	user = strings.TrimSpace(user)
	if user == "" {
		return Subject{}, errors.New("no subject: pass --token-file (the doctor reads whom the token names) or --subject")
	}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, name, ok := strings.Cut(rest, ":")
		if !ok || !reName().MatchString(ns) || !reName().MatchString(name) {
			return Subject{}, fmt.Errorf("subject %q: a ServiceAccount is system:serviceaccount:NAMESPACE:NAME", user)
		}
		return Subject{User: user, SANamespace: ns, SAName: name}, nil
	}
	if strings.HasPrefix(user, "system:") {
		return Subject{}, fmt.Errorf("subject %q: not a ServiceAccount or a user KFP would ask about", user)
	}
	return Subject{User: user}, nil
}

var reName = lazyre.New(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// ValidNamespace checks a namespace name before it goes into an object.
func ValidNamespace(ns string) error {
	if ns == "" {
		return errors.New("no namespace: pass -n, the profile namespace the call was for")
	}
	if len(ns) > 63 || !reName().MatchString(ns) || strings.Contains(ns, ".") {
		return fmt.Errorf("namespace %q is not a Kubernetes namespace name", ns)
	}
	return nil
}

// RoleBinding binds the subject to kubeflow-edit in namespace (KFD009). KFP
// asks with the user name only, never groups, so a group binding would not
// help; a ServiceAccount subject matches its system:serviceaccount name. A
// user is bound the way Kubeflow's profile controller binds a contributor
// (name user-<email>-clusterrole-edit, annotations role and user), so the
// dashboard lists them.
func RoleBinding(s Subject, namespace string) (Manifest, error) {
	if err := ValidNamespace(namespace); err != nil {
		return Manifest{}, err
	}
	if s.User == "" {
		return Manifest{}, errors.New("fix: an empty subject")
	}
	meta := map[string]any{"namespace": namespace}
	var subject map[string]any
	if s.SAName != "" {
		meta["name"] = dnsName("kfp-edit-" + s.SANamespace + "-" + s.SAName)
		subject = map[string]any{"kind": "ServiceAccount", "name": s.SAName, "namespace": s.SANamespace}
	} else {
		meta["name"] = dnsName("user-" + s.User + "-clusterrole-edit")
		meta["annotations"] = map[string]any{"role": "edit", "user": s.User}
		subject = map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": s.User}
	}
	return Manifest{
		ID: kfd.RBACDenied,
		Comment: []string{
			fmt.Sprintf("KFD009: let %s use KFP in namespace %s (kubeflow-edit, as the profile controller binds contributors)", s.User, namespace),
		},
		Object: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1",
			"kind":       "RoleBinding",
			"metadata":   meta,
			"roleRef":    map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": EditRole},
			"subjects":   []any{subject},
		}},
	}, nil
}

// dnsName lowercases and replaces what a metadata.name cannot hold
// ("user@example.com" → "user-example-com"), as the profile controller does.
func dnsName(s string) string {
	s = strings.ToLower(s)
	s = reNotName().ReplaceAllString(s, "-")
	s = strings.Trim(s, "-")
	if len(s) > 253 {
		s = strings.TrimRight(s[:253], "-")
	}
	return s
}

var reNotName = lazyre.New(`[^a-z0-9-]+`)

func tokenVolume(audience string) map[string]any {
	return map[string]any{
		"name": TokenVolume,
		"projected": map[string]any{"sources": []any{map[string]any{
			"serviceAccountToken": map[string]any{"path": "token", "expirationSeconds": int64(TokenExpiry), "audience": audience},
		}}},
	}
}

func tokenMount() map[string]any {
	return map[string]any{"mountPath": TokenDir, "name": TokenVolume, "readOnly": true}
}

func tokenEnv() map[string]any {
	return map[string]any{"name": kubeflow.TokenPathEnv, "value": TokenPath}
}

// PodDefault is Kubeflow's access-ml-pipeline PodDefault for a profile
// namespace (KFD004): pods labelled access-ml-pipeline: "true" get a token
// for KFP's audience where kfp.Client() reads it.
func PodDefault(namespace, audience string) (Manifest, error) {
	if err := ValidNamespace(namespace); err != nil {
		return Manifest{}, err
	}
	if audience == "" {
		audience = DefaultAudience
	}
	return Manifest{
		ID: kfd.NoTokenFile,
		Comment: []string{
			fmt.Sprintf("KFD004: mount a KFP token (audience %s) into pods of %s labelled %s: \"true\"", audience, namespace, PodDefaultLabel),
			"(the notebook's \"Allow access to Kubeflow Pipelines\" configuration; recreate the pod with the label after applying)",
		},
		Object: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kubeflow.org/v1alpha1",
			"kind":       "PodDefault",
			"metadata":   map[string]any{"name": PodDefaultName, "namespace": namespace},
			"spec": map[string]any{
				"desc":         "Allow access to Kubeflow Pipelines",
				"selector":     map[string]any{"matchLabels": map[string]any{PodDefaultLabel: "true"}},
				"env":          []any{tokenEnv()},
				"volumes":      []any{tokenVolume(audience)},
				"volumeMounts": []any{tokenMount()},
			},
		}},
	}, nil
}

// PodSpec is the part of a Pod the token volume is added to: its name and
// containers (name and image), enough for a Pod the server accepts.
type PodSpec struct {
	Name, Namespace, ServiceAccount string
	Containers                      []Container
}

// Container is one container of a PodSpec.
type Container struct{ Name, Image string }

// PodWithToken is the pod with the projected token volume mounted in every
// container and KF_PIPELINES_SA_TOKEN_PATH set (KFD004, without a PodDefault).
// A running pod's volumes cannot change: the pod must be recreated from this
// (or its controller's template changed alike), which the comment says.
func PodWithToken(p PodSpec, audience string) (Manifest, error) {
	if err := ValidNamespace(p.Namespace); err != nil {
		return Manifest{}, err
	}
	if !reName().MatchString(p.Name) {
		return Manifest{}, fmt.Errorf("pod name %q is not a Kubernetes name", p.Name)
	}
	if len(p.Containers) == 0 {
		return Manifest{}, fmt.Errorf("pod %s: no containers", p.Name)
	}
	if audience == "" {
		audience = DefaultAudience
	}
	var cs []any
	for _, c := range p.Containers {
		cs = append(cs, map[string]any{
			"name": c.Name, "image": c.Image,
			"env": []any{tokenEnv()}, "volumeMounts": []any{tokenMount()},
		})
	}
	spec := map[string]any{"containers": cs, "volumes": []any{tokenVolume(audience)}}
	if p.ServiceAccount != "" {
		spec["serviceAccountName"] = p.ServiceAccount
	}
	return Manifest{
		ID: kfd.NoTokenFile,
		Comment: []string{
			fmt.Sprintf("KFD004: pod %s with a projected KFP token (audience %s) at %s", p.Name, audience, TokenPath),
			"(a pod's volumes cannot change in place: recreate it from this, or add the same volume, mount and env to its template)",
		},
		Object: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1",
			"kind":       "Pod",
			"metadata":   map[string]any{"name": p.Name, "namespace": p.Namespace},
			"spec":       spec,
		}},
	}, nil
}

// Audience sets TOKEN_REVIEW_AUDIENCE on KFP's API server (KFD003) to the
// audience the callers' tokens carry. It is the server-side fix; the usual
// one is a token minted for pipelines.kubeflow.org, which the comment gives
// first. Applied server-side, the object names only the env entry, so the
// rest of the Deployment stays as it is.
func Audience(kfpNamespace, container, audience string) (Manifest, error) {
	if err := ValidNamespace(kfpNamespace); err != nil {
		return Manifest{}, err
	}
	if audience == "" {
		return Manifest{}, errors.New("no audience: pass --token-file (its aud claim) or --audience")
	}
	if container == "" {
		container = APIServerContainer
	}
	comment := []string{
		fmt.Sprintf("KFD003: make KFP review tokens for audience %q (TOKEN_REVIEW_AUDIENCE on deploy/%s in %s)", audience, APIServerName, kfpNamespace),
		fmt.Sprintf("Usually better: keep KFP's audience and mint the token for it: kubectl -n NS create token SA --audience %s", DefaultAudience),
	}
	if strings.Contains(audience, "kubernetes.default.svc") {
		comment = append(comment, "Warning: that is the kube-apiserver's own audience: KFP would accept any token meant for the Kubernetes API")
	}
	return Manifest{
		ID:      kfd.TokenAudience,
		Comment: comment,
		Object: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1",
			"kind":       "Deployment",
			"metadata":   map[string]any{"name": APIServerName, "namespace": kfpNamespace},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": container, "env": []any{map[string]any{"name": "TOKEN_REVIEW_AUDIENCE", "value": audience}}},
			}}}},
		}},
	}, nil
}
