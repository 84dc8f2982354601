package kubeapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// request is what the fake API server saw.
type request struct {
	method, path, query, accept, body string
}

// apiServer answers as a kube-apiserver does for the paths in replies
// (method and path → status and JSON body); anything else is a 404 Status.
func apiServer(t *testing.T, replies map[string]reply) (*Client, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var seen []request
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Accept"), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		rep, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			rep = reply{http.StatusNotFound, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"the server could not find the requested resource"}`}
		}
		w.WriteHeader(rep.code)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	c, err := New(&rest.Config{Host: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

type reply struct {
	code int
	body string
}

func TestGetAndListGoWhereTheClientsetSendsThem(t *testing.T) {
	c, seen := apiServer(t, map[string]reply{
		"GET /api/v1/namespaces/kubeflow/services/ml-pipeline-ui": {200, `{"kind":"Service","apiVersion":"v1","metadata":{"name":"ml-pipeline-ui","namespace":"kubeflow"},"spec":{"ports":[{"port":80}]}}`},
		"GET /api/v1/services": {200, `{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"ml-pipeline-ui","namespace":"kubeflow"}}]}`},
		"GET /apis/apps/v1/namespaces/kubeflow/deployments/ml-pipeline":           {200, `{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"ml-pipeline"},"spec":{"template":{"spec":{"containers":[{"name":"ml-pipeline-api-server"}]}}}}`},
		"GET /apis/discovery.k8s.io/v1/namespaces/kubeflow/endpointslices":        {200, `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[{"metadata":{"name":"a"},"addressType":"IPv4","endpoints":[]}]}`},
		"GET /apis/networking.k8s.io/v1/namespaces/istio-system/ingresses":        {200, `{"kind":"IngressList","apiVersion":"networking.k8s.io/v1","metadata":{},"items":[]}`},
		"GET /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations": {200, `{"kind":"MutatingWebhookConfigurationList","apiVersion":"admissionregistration.k8s.io/v1","metadata":{},"items":[{"metadata":{"name":"admission-webhook-mutating-webhook-configuration"}}]}`},
		"GET /api/v1/nodes":      {200, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"n","annotations":{"kwok.x-k8s.io/node":"fake"}}}]}`},
		"GET /api/v1/namespaces": {200, `{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"kubeflow"}}]}`},
		"GET /api/v1/namespaces/kubeflow/configmaps/pipeline-api-server-config": {200, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"pipeline-api-server-config"},"data":{"MULTIUSER":"true"}}`},
		"GET /api/v1/namespaces/ns-1/pods/nb-0":                                 {200, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nb-0","labels":{"access-ml-pipeline":"true"}}}`},
		"GET /api/v1/namespaces/kubeflow/secrets/mysql-secret":                  {200, `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"mysql-secret"},"data":{"username":"cm9vdA=="}}`},
		"GET /apis/kubeflow.org/v1alpha1":                                       {200, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"kubeflow.org/v1alpha1","resources":[{"name":"poddefaults","namespaced":true,"kind":"PodDefault","verbs":["list"]}]}`},
	})
	ctx := context.Background()

	svc, err := c.Services("kubeflow").Get(ctx, "ml-pipeline-ui", metav1.GetOptions{})
	if err != nil || svc.Name != "ml-pipeline-ui" || svc.Spec.Ports[0].Port != 80 {
		t.Fatalf("service get: %+v, %v", svc, err)
	}
	list, err := c.Services("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=ml-pipeline-ui", Limit: 5})
	if err != nil || len(list.Items) != 1 || list.Items[0].Namespace != "kubeflow" {
		t.Fatalf("service list: %+v, %v", list, err)
	}
	dep, err := c.Deployments("kubeflow").Get(ctx, "ml-pipeline", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Spec.Containers[0].Name != "ml-pipeline-api-server" {
		t.Fatalf("deployment get: %+v, %v", dep, err)
	}
	if l, err := c.EndpointSlices("kubeflow").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=ml-pipeline-ui"}); err != nil || len(l.Items) != 1 {
		t.Fatalf("endpointslices: %+v, %v", l, err)
	}
	if l, err := c.Ingresses("istio-system").List(ctx, metav1.ListOptions{}); err != nil || l == nil {
		t.Fatalf("ingresses: %+v, %v", l, err)
	}
	if l, err := c.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("webhooks: %+v, %v", l, err)
	}
	if l, err := c.Nodes().List(ctx, metav1.ListOptions{Limit: 500}); err != nil || l.Items[0].Annotations["kwok.x-k8s.io/node"] != "fake" {
		t.Fatalf("nodes: %+v, %v", l, err)
	}
	if l, err := c.Namespaces().List(ctx, metav1.ListOptions{}); err != nil || l.Items[0].Name != "kubeflow" {
		t.Fatalf("namespaces: %+v, %v", l, err)
	}
	if cm, err := c.ConfigMaps("kubeflow").Get(ctx, "pipeline-api-server-config", metav1.GetOptions{}); err != nil || cm.Data["MULTIUSER"] != "true" {
		t.Fatalf("configmap: %+v, %v", cm, err)
	}
	if p, err := c.Pods("ns-1").Get(ctx, "nb-0", metav1.GetOptions{}); err != nil || p.Labels["access-ml-pipeline"] != "true" {
		t.Fatalf("pod: %+v, %v", p, err)
	}
	if s, err := c.Secrets("kubeflow").Get(ctx, "mysql-secret", metav1.GetOptions{}); err != nil || string(s.Data["username"]) != "root" {
		t.Fatalf("secret: %+v, %v", s, err)
	}
	res, err := c.ServerResourcesForGroupVersion(ctx, "kubeflow.org/v1alpha1")
	if err != nil || len(res.APIResources) != 1 || res.APIResources[0].Name != "poddefaults" {
		t.Fatalf("discovery: %+v, %v", res, err)
	}

	reqs := seen()
	if got := reqs[1].query; !strings.Contains(got, "fieldSelector=metadata.name%3Dml-pipeline-ui") || !strings.Contains(got, "limit=5") {
		t.Errorf("list query %q: the ListOptions were not sent", got)
	}
	// Built-in types are asked for as protobuf first, as client-go's
	// clientset asks; a JSON answer is still understood (above).
	if !strings.HasPrefix(reqs[0].accept, "application/vnd.kubernetes.protobuf") {
		t.Errorf("Accept %q: want protobuf preferred", reqs[0].accept)
	}
}

// The apiserver's refusals come back as client-go's API errors, which the
// doctor's messages are built from.
func TestErrorsAreAPIStatuses(t *testing.T) {
	c, _ := apiServer(t, map[string]reply{
		"GET /api/v1/services": {403, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"details":{"kind":"services"},` +
			`"message":"services is forbidden: User \"system:serviceaccount:ns-1:kfp-doctor\" cannot list resource \"services\" in API group \"\" at the cluster scope"}`},
	})
	ctx := context.Background()
	_, err := c.Services("").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cannot list resource "services"`) {
		t.Fatalf("forbidden list: %v", err)
	}
	if _, err := c.Deployments("kubeflow").Get(ctx, "ml-pipeline", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("missing deployment: %v", err)
	}
	if _, err := c.ServerResourcesForGroupVersion(ctx, "kubeflow.org/v1alpha1"); !apierrors.IsNotFound(err) {
		t.Fatalf("group not served: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Services("kubeflow").Get(cctx, "x", metav1.GetOptions{}); err == nil {
		t.Fatal("a cancelled context still got an answer")
	}
}

func TestSubjectAccessReviewIsPostedAndAnswered(t *testing.T) {
	c, seen := apiServer(t, map[string]reply{
		"POST /apis/authorization.k8s.io/v1/subjectaccessreviews": {201, `{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"user":"u"},"status":{"allowed":true,"reason":"RBAC: allowed by RoleBinding"}}`},
	})
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "u",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "ns-1", Verb: "list", Group: "pipelines.kubeflow.org", Resource: "experiments"}}}
	got, err := c.SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil || !got.Status.Allowed {
		t.Fatalf("review: %+v, %v", got, err)
	}
	var sent authorizationv1.SubjectAccessReview
	body := seen()[0].body
	if err := json.Unmarshal([]byte(body), &sent); err != nil {
		t.Fatalf("sent %q: %v", body, err)
	}
	if sent.Spec.User != "u" || sent.Spec.ResourceAttributes.Resource != "experiments" {
		t.Fatalf("sent %+v", sent)
	}
}
