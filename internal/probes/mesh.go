package probes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// The mesh probe reads Istio's objects from the cluster and judges, before
// any request, what the sidecar in front of KFP will make of this client's
// call (internal/mesh holds Istio's semantics): the PeerAuthentication its
// connection meets, the RequestAuthentication its token meets, and the
// AuthorizationPolicies its request meets — from the principal of the
// pod's ServiceAccount (none from outside the mesh) with the headers the SDK
// will send. healthz and list-experiments attribute a live "RBAC: access
// denied" to what it found.

// MeshProbe is the probe's id.
const MeshProbe = "mesh"

// meshView is the doctor's reading of the mesh for this call.
type meshView struct {
	// skip says why there is no reading; forbidden when RBAC refused it.
	skip      string
	forbidden bool
	// dest names the workload judged, and who calls it.
	dest, caller string
	// id and msg are the predicted failure ("" when admitted); fix the
	// smallest change that admits the call; policy the refusing policy.
	id          kfd.ID
	msg, fix    string
	policy      string
	pass        string
	facts       map[string]string
	workloadPod string
}

// meshOnce computes the reading once per run, whichever probe asks first.
type meshOnce struct {
	once sync.Once
	view *meshView
}

func (t *Target) meshReading(ctx context.Context) *meshView {
	t.mu.Lock()
	if t.mesh == nil {
		t.mesh = &meshOnce{}
	}
	m := t.mesh
	t.mu.Unlock()
	m.once.Do(func() { m.view = t.readMesh(ctx) })
	return m.view
}

// WithMesh adds the mesh probe to a set without the cluster's other
// checks (a pod given a host): it comes first, as it needs no answer.
func WithMesh(set []probe.Probe[*Target]) []probe.Probe[*Target] {
	p := meshProbe()
	p.DependsOn = nil
	return append([]probe.Probe[*Target]{p}, set...)
}

func meshProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        MeshProbe,
		Title:     "Istio's policies for this call: PeerAuthentication, RequestAuthentication, AuthorizationPolicies (read from the cluster)",
		DependsOn: []string{"install"},
		Run: func(ctx context.Context, t *Target) probe.Result {
			v := t.meshReading(ctx)
			var res probe.Result
			switch {
			case v.skip != "":
				res = probe.Skipped(v.skip)
			case v.id == "":
				res = probe.Passf(v.pass)
			default:
				res = probe.Failed(v.id, v.msg)
				if v.fix != "" {
					res.Hint = v.fix
				}
			}
			res.Facts = v.facts
			return res
		},
	}
}

// attributeMesh turns a live refusal by the mesh into what the reading
// predicted: which policy, which fix. It leaves d alone when the reading
// has nothing to say.
func (t *Target) attributeMesh(ctx context.Context, d kfp.Diagnosis, reply *kfp.Reply, err error) (kfp.Diagnosis, string) {
	if t.Cluster == nil {
		return d, ""
	}
	denied := reply != nil && reply.StatusCode == http.StatusForbidden && strings.Contains(string(reply.Body), mesh.RBACDenied)
	// A reset reaches the client as one (KFD019's words), or, through a
	// kwok port-forward, as a connection left without an answer.
	reset := err != nil && (d.KFD == kfd.BackendNotReady || d.KFD == kfd.NoAnswer)
	jwt := reply != nil && reply.StatusCode == http.StatusUnauthorized && strings.HasPrefix(string(reply.Body), "Jw")
	if !denied && !reset && !jwt {
		return d, ""
	}
	v := t.meshReading(ctx)
	switch {
	case v.skip != "" && denied && v.forbidden:
		d.Summary += "; the doctor may not read Istio's policies to name the one that refused (" + v.skip + ")"
		return d, ""
	case v.skip != "" || v.id == "":
		return d, ""
	case reset && v.id != kfd.StrictMTLS:
		return d, ""
	}
	d.KFD = v.id
	d.Summary += "; " + v.msg
	return d, v.fix
}

// readMesh does the reading: where the call goes, who makes it, and what
// the mesh's objects say of it.
func (t *Target) readMesh(ctx context.Context) *meshView {
	v := &meshView{facts: map[string]string{}}
	c := t.Cluster
	if c == nil || c.Dynamic == nil || c.Kube == nil {
		v.skip = "no cluster to read Istio's objects from"
		return v
	}
	base := t.Client.Base()
	host := base.Hostname()
	port := base.Port()
	if port == "" {
		port = map[string]string{"https": "443"}[base.Scheme]
		if port == "" {
			port = "80"
		}
	}
	podNS := ""
	if c.Pod != nil {
		podNS = c.Pod.Namespace
	}
	svc, ns, ok := discover.ServiceOf(host, podNS)
	gateway := false
	switch {
	case ok:
	case c.Pod == nil && isLoopback(host) && strings.HasPrefix(base.Path, "/pipeline"):
		// A port-forward to Kubeflow's gateway: Envoy itself listens there,
		// so its policies apply (it is no sidecar).
		svc, ns, port, gateway = "istio-ingressgateway", "istio-system", "80", true
	case isLoopback(host):
		v.skip = "through kubectl port-forward the connection enters the pod on its loopback, past Istio's sidecar (inbound capture is in PREROUTING only; istio/istio#1413): no mesh policy applies"
		return v
	default:
		v.skip = fmt.Sprintf("%s is not a cluster Service name: which workload answers it is unknown", host)
		return v
	}
	p, _ := strconv.Atoi(port)
	w, err := discover.FindWorkload(ctx, c.Kube, ns, svc, p)
	if err != nil {
		v.skip = err.Error()
		return v
	}
	cfg, err := mesh.Load(ctx, c.Dynamic)
	switch {
	case errors.Is(err, mesh.ErrNoCRDs):
		v.skip = "Istio is not installed (the cluster serves no security.istio.io kinds): no mesh policy can refuse this call"
		return v
	case apierrors.IsForbidden(err):
		v.skip, v.forbidden = "cannot read Istio's policies: "+discover.Reason(err)+"; judging a refusal by its text only", true
		return v
	case err != nil:
		v.skip = "cannot read Istio's policies: " + err.Error()
		return v
	}
	workload := mesh.Workload{Namespace: ns, Labels: w.Labels}
	v.dest = fmt.Sprintf("%s/%s (port %d)", ns, svc, w.Port)
	if w.Pod != nil {
		v.dest = fmt.Sprintf("%s/%s (pod %s, port %d)", ns, svc, w.Pod.Name, w.Port)
		v.workloadPod = w.Pod.Name
	}
	v.facts["mesh_workload"] = ns + "/" + svc
	selecting := cfg.Selecting(workload)
	switch {
	case gateway:
	case w.Pod != nil && !discover.HasSidecar(w.Pod):
		v.pass = fmt.Sprintf("%s has no Istio sidecar: no mesh policy applies to it", v.dest)
		return v
	case w.Pod == nil && len(selecting) == 0:
		v.pass = fmt.Sprintf("no AuthorizationPolicy selects %s (%s)", v.dest, strings.Join(w.Problems, "; "))
		return v
	}

	// Who calls: the pod's ServiceAccount when its pod carries the sidecar,
	// else nobody the mesh knows.
	principal := ""
	v.caller = "outside the mesh (no sidecar: plaintext, no principal)"
	if c.Pod != nil && c.Pod.Name != "" {
		pod, err := c.Kube.Pods(c.Pod.Namespace).Get(ctx, c.Pod.Name, metav1.GetOptions{})
		if err != nil {
			v.skip = fmt.Sprintf("cannot read this pod %s/%s to know its identity in the mesh: %s", c.Pod.Namespace, c.Pod.Name, discover.Reason(err))
			return v
		}
		if discover.HasSidecar(pod) {
			sa := pod.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			principal = cfg.Principal(pod.Namespace, sa)
			v.caller = "principal " + principal
		} else {
			v.caller = fmt.Sprintf("this pod %s/%s, which has no Istio sidecar (plaintext, no principal)", pod.Namespace, pod.Name)
		}
	}
	v.facts["mesh_principal"] = principal
	conn := cfg.Connect(workload, w.Port, principal)
	if conn.Reset {
		v.id, v.policy = kfd.StrictMTLS, conn.By.String()
		v.msg = fmt.Sprintf("PeerAuthentication %s makes %s STRICT: the call from %s will be reset before any HTTP", conn.By, v.dest, v.caller)
		v.fix = "run the client with Istio's sidecar (label its namespace istio-injection=enabled and recreate the pod), or make " + conn.By.String() + " PERMISSIVE for port " + strconv.Itoa(w.Port)
		v.facts["mesh_policy"] = v.policy
		return v
	}

	hr, err := t.Client.Request(ctx, http.MethodGet, "/apis/"+string(kfp.V2beta1)+"/experiments", kfp.ExperimentsQuery(kfp.V2beta1, t.namespace()), nil, nil)
	if err != nil {
		v.skip = "cannot build the call to judge it: " + err.Error()
		return v
	}
	req := mesh.Request{Method: hr.Method, Host: hr.URL.Host, Path: hr.URL.RequestURI(), Header: hr.Header.Clone(), Port: w.Port, Peer: conn.Peer,
		SourceIP: netip.Addr{}}
	sent := describeHeaders(hr.Header)
	if provider, pol, ok := cfg.Custom(workload, &req); ok {
		v.pass = fmt.Sprintf("%s: CUSTOM policy %s hands this call (%s) to %s first, which decides by its own session; the login probes check that", v.dest, pol, sent, provider)
		v.facts["mesh_policy"] = pol.String()
		return v
	}
	authn := (&mesh.Authenticator{Now: t.now}).Predict(cfg.JWTRules(workload), hr)
	if authn.Failure != "" {
		v.id = kfd.TokenInvalid
		switch authn.Failure {
		case mesh.JWTUnknownIss:
			v.id = kfd.JWTIssuer
			v.fix = fmt.Sprintf("add a jwtRule for issuer %q to a RequestAuthentication selecting %s (Kubeflow's m2m-token-issuer), or send a token of an issuer it names", authn.Issuer, v.dest)
		case mesh.JWTExpired:
			v.id = kfd.Expired
		}
		names := ras(cfg, workload)
		if authn.Rule != nil {
			names = authn.Rule.String()
		}
		v.policy = names
		v.msg = fmt.Sprintf("RequestAuthentication %s at %s will answer 401 %q for this token (iss %q)", names, v.dest, authn.Failure, authn.Issuer)
		v.facts["mesh_policy"] = v.policy
		return v
	}
	req.Header, req.JWT = hr.Header, authn.Identity
	verdict := cfg.Authorize(workload, &req)
	if verdict.Allowed {
		if verdict.Policy == nil {
			v.pass = fmt.Sprintf("no ALLOW policy selects %s: the call (%s, from %s) passes", v.dest, sent, v.caller)
		} else {
			v.pass = fmt.Sprintf("%s rule %d admits the call to %s (%s, from %s)", verdict.Policy, verdict.Rule+1, v.dest, sent, v.caller)
			v.facts["mesh_policy"] = verdict.Policy.String()
		}
		return v
	}
	t.adviseMesh(v, cfg, workload, req, verdict, sent, ns)
	v.facts["mesh_policy"] = v.policy
	return v
}

// adviseMesh names the refusal and the smallest change that admits the
// call, trying in turn what the client can change before what the
// install must: drop a self-set kubeflow-userid, send the token, call the
// API server's Service, add the principal to the policy.
func (t *Target) adviseMesh(v *meshView, cfg *mesh.Config, w mesh.Workload, req mesh.Request, verdict mesh.Verdict, sent, kfpNS string) {
	v.id = kfd.IstioDenied
	if verdict.Policy != nil {
		v.policy = verdict.Policy.String()
		v.msg = fmt.Sprintf("DENY policy %s rule %d refuses the call to %s (%s, from %s): the sidecar will answer 403 %q", verdict.Policy, verdict.Rule+1, v.dest, sent, v.caller, mesh.RBACDenied)
		v.fix = "a DENY policy wins over every ALLOW: change " + verdict.Policy.String()
		return
	}
	var names []string
	for _, m := range verdict.Misses {
		names = append(names, m.Policy.String())
	}
	v.policy = strings.Join(names, ", ")
	// The policy a reader looks for is the workload's own, not the
	// mesh-wide one that admits nothing.
	for _, m := range verdict.Misses {
		if len(m.Rules) > 0 {
			v.policy = m.Policy.String()
			break
		}
	}
	v.msg = fmt.Sprintf("no ALLOW policy admits the call to %s (%s, from %s): the sidecar will answer 403 %q — %s",
		v.dest, sent, v.caller, mesh.RBACDenied, strings.TrimPrefix(verdict.String(), "denied: no ALLOW policy matched "))
	admits := func(r mesh.Request, at mesh.Workload, c *mesh.Config) bool { return c.Authorize(at, &r).Allowed }
	with := func(h http.Header) mesh.Request {
		r := req
		r.Header = h
		return r
	}
	if req.Header.Get(kfp.UserIDHeader) != "" {
		h := req.Header.Clone()
		h.Del(kfp.UserIDHeader)
		if admits(with(h), w, cfg) {
			v.id, v.fix = kfd.SelfSetUserID, "do not set "+kfp.UserIDHeader+" yourself: the policy admits the call without it; send the token instead"
			return
		}
	}
	if req.Header.Get("Authorization") == "" {
		h := req.Header.Clone()
		h.Set("Authorization", "Bearer <token>")
		if admits(with(h), w, cfg) {
			v.fix = "send the ServiceAccount token: kfp.Client(host=…, credentials=kfp.client.ServiceAccountTokenVolumeCredentials()), or kfp.Client() with no host in the pod"
			return
		}
	}
	if api := t.apiWorkload(w, kfpNS); api != nil && !sameLabels(api.Labels, w.Labels) {
		r := req
		r.Port = 8888
		if admits(r, *api, cfg) {
			v.fix = fmt.Sprintf("call the API server instead: kfp.Client(host=\"http://ml-pipeline.%s:8888\"), or kfp.Client() with no host in the pod", kfpNS)
			return
		}
	}
	if req.Peer != "" {
		for _, m := range verdict.Misses {
			for i := range m.Rules {
				if more, ok := cfg.AddPrincipal(m.Policy, i, req.Peer); ok && admits(req, w, more) {
					v.id = kfd.PipelinePodDenied
					v.policy = m.Policy.String()
					v.fix = fmt.Sprintf("add principal %s to rule %d of AuthorizationPolicy %s (kfp-doctor fix %s prints the change)", req.Peer, i+1, m.Policy, kfd.PipelinePodDenied)
					return
				}
			}
		}
	} else if len(verdict.Misses) > 0 {
		v.fix = "run the client with Istio's sidecar: the policies admit principals, and a client outside the mesh has none"
	}
	allRuleless := true
	for _, m := range verdict.Misses {
		allRuleless = allRuleless && len(m.Rules) == 0
	}
	if allRuleless {
		v.fix = fmt.Sprintf("only %s selects %s and it admits nothing: KFP's own AuthorizationPolicies are missing; apply KFP's istio-authorization-config.yaml (kfp-doctor fix %s prints them)", v.policy, v.dest, kfd.IstioDenied)
	}
}

// apiWorkload is KFP's API server pod, by the label KFP's manifests give it.
func (t *Target) apiWorkload(w mesh.Workload, kfpNS string) *mesh.Workload {
	if w.Labels["app"] != "ml-pipeline-ui" {
		return nil
	}
	return &mesh.Workload{Namespace: kfpNS, Labels: map[string]string{"app": "ml-pipeline"}}
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// describeHeaders says what of the request a policy may look at, never a
// value.
func describeHeaders(h http.Header) string {
	var parts []string
	for _, name := range []string{"Authorization", "Cookie", kfp.UserIDHeader} {
		if h.Get(name) != "" {
			parts = append(parts, "with "+name)
		} else if name != "Cookie" {
			parts = append(parts, "no "+name)
		}
	}
	return strings.Join(parts, ", ")
}

// ras names the RequestAuthentications whose rules w meets.
func ras(cfg *mesh.Config, w mesh.Workload) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range cfg.JWTRules(w) {
		if n := r.From.String(); !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
