package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Result is one case's run.
type Result struct {
	Report *report.Report
	// Steps says what the suite did to build the client, for the spec's log.
	Steps []string
}

// Run runs one case: fault in, client built, doctor run, fault out.
func (e *Env) Run(ctx context.Context, c scenarios.Case, workdir string) (res *Result, err error) {
	sc := e.Scenario
	p, ok := sc.Path(c.Path)
	if !ok {
		return nil, fmt.Errorf("unknown path %q", c.Path)
	}
	var f scenarios.Fault
	if c.Fault != "" {
		if f, ok = sc.Fault(c.Fault); !ok {
			return nil, fmt.Errorf("unknown fault %q", c.Fault)
		}
	}
	cf := scenarios.ClientFault{}
	if f.Client != nil {
		cf = *f.Client
	}
	res = &Result{}
	step := func(format string, args ...any) { res.Steps = append(res.Steps, fmt.Sprintf(format, args...)) }

	if p.Install != nil {
		undo, err := e.inject(ctx, *p.Install)
		if err != nil {
			return nil, fmt.Errorf("installing the path's variant %s: %w", p.Install.Name, err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if rerr := undo(rctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("reverting the path's variant %s: %w", p.Install.Name, rerr))
			}
		}()
		step("install variant %s: %s", p.Install.Name, p.Install.Doc)
	}
	revert, err := e.inject(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("injecting fault %s: %w", c.Fault, err)
	}
	if f.Admission {
		// The next case's pod must be admitted again, with its PodDefault.
		undo := revert
		revert = func(ctx context.Context) error {
			if err := undo(ctx); err != nil {
				return err
			}
			return e.waitAdmission(ctx)
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if rerr := revert(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("reverting fault %s: %w", c.Fault, rerr))
		}
	}()
	if c.Fault != "" {
		step("fault %s: %s", f.Name, f.Doc)
	}

	cfg := doctorCall{Config: doctor.Config{Namespace: p.Namespace, Timeout: 10 * time.Second}, Seams: doctor.Seams{Getenv: func(string) string { return "" }}}
	if cf.Namespace != nil {
		cfg.Namespace = *cf.Namespace
	}
	if p.Pod != nil && e.RealPods {
		rep, err := e.inRealPod(ctx, p, cf, cfg.Timeout, workdir, step)
		if err != nil {
			return nil, err
		}
		res.Report = rep
		return res, nil
	}
	if p.Pod != nil {
		cleanup, err := e.asPod(ctx, p, cf, workdir, &cfg, step)
		defer cleanup()
		if err != nil {
			return nil, err
		}
	} else {
		cleanup, err := e.fromOutside(ctx, p, cf, workdir, &cfg, step)
		defer cleanup()
		if err != nil {
			return nil, err
		}
	}
	var red redact.Redactor
	rep, err := doctor.Run(ctx, cfg.Config, cfg.Seams, &red)
	if err != nil {
		return nil, fmt.Errorf("running the doctor: %w", err)
	}
	res.Report = rep
	return res, nil
}

// asPod builds the client of an in-cluster path: the pod as the admission
// webhook would leave it, its projected tokens minted bound to it and written
// under a private root, its env, and its view of cluster DNS.
func (e *Env) asPod(ctx context.Context, p scenarios.Path, cf scenarios.ClientFault, workdir string, cfg *doctorCall, step func(string, ...any)) (func(), error) {
	noop := func() {}
	if cf.NoPrefix || cf.ForeignIssuer {
		return noop, fmt.Errorf("path %s: the NoPrefix and ForeignIssuer faults are for out-of-cluster paths", p.Name)
	}
	spec := p.Pod
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "client-", Namespace: spec.Namespace, Labels: e.Owner.label(spec.Labels)},
		Spec: corev1.PodSpec{
			ServiceAccountName: spec.ServiceAccount,
			Containers:         []corev1.Container{{Name: "client", Image: "kfp-connect.invalid/kfp-client:test"}},
		},
	}
	for k, v := range spec.Env {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: k, Value: v})
	}
	if v := spec.Volume; v != nil {
		addTokenVolume(pod, "kfp-token", v.MountDir, v.Audience, v.ExpirationSeconds)
	}
	applied, err := e.applyPodDefaults(ctx, pod)
	if err != nil {
		return noop, err
	}
	step("pod in %s as %s, labels %v; PodDefaults applied: %v", spec.Namespace, spec.ServiceAccount, spec.Labels, applied)
	created, err := e.Client.CoreV1().Pods(spec.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return noop, fmt.Errorf("creating the client pod: %w", err)
	}
	deletePod := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		zero := int64(0)
		_ = e.Client.CoreV1().Pods(created.Namespace).Delete(dctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	if err := e.waitPodRunning(ctx, created); err != nil {
		return deletePod, err
	}

	root := filepath.Join(workdir, created.Name)
	var lastToken, lastAudience string
	// The projected token volumes, as the kubelet would write them.
	for _, m := range created.Spec.Containers[0].VolumeMounts {
		vol := volumeNamed(created, m.Name)
		if vol == nil || vol.Projected == nil {
			continue
		}
		for _, src := range vol.Projected.Sources {
			sat := src.ServiceAccountToken
			if sat == nil {
				continue
			}
			if cf.NoTokenFile {
				step("token volume %s not mounted (fault)", m.MountPath)
				continue
			}
			var tok string
			switch {
			case cf.ExpiredToken:
				tok, err = jwttest.Mint(jwttest.Token{Namespace: created.Namespace, ServiceAccount: created.Spec.ServiceAccountName, Pod: created.Name,
					Audience: []string{sat.Audience}, Expires: time.Now().Add(-time.Hour)})
			default:
				aud := sat.Audience
				if cf.Audience != "" {
					aud = cf.Audience
				}
				tok, err = e.mintBound(ctx, created, aud, sat.ExpirationSeconds)
				lastToken, lastAudience = tok, aud
			}
			if err != nil {
				return deletePod, err
			}
			file := filepath.Join(root, m.MountPath, sat.Path)
			if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
				return deletePod, err
			}
			if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
				return deletePod, err
			}
			step("token for audience %q written to %s", sat.Audience, path.Join(m.MountPath, sat.Path))
		}
	}

	env, err := podenv.ContainerEnv(ctx, e.Client, created, &created.Spec.Containers[0])
	if err != nil {
		return deletePod, err
	}
	env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"] = "10.0.0.1", "443"
	env["HOSTNAME"] = created.Name
	if v, ok := env[credentials.TokenPathEnv]; ok {
		env[credentials.TokenPathEnv] = filepath.Join(root, v)
	}
	// The kubelet's ServiceAccount mount: kfp.Client() reads its namespace
	// file, and load_incluster_config() needs it to count as in a pod. The
	// in-cluster client config is the suite's own: the cases check what
	// the doctor concludes in a pod, not the pod's RBAC on kubeflow.
	saDir := filepath.Join(root, discover.ServiceAccountDir)
	if err := writeFiles(saDir, map[string]string{"token": "kubelet-mounted-placeholder", "namespace": created.Namespace}); err != nil {
		return deletePod, err
	}
	cfg.ServiceAccountDir = saDir
	cfg.InClusterConfig = func() (*rest.Config, error) { return rest.CopyConfig(e.Config), nil }
	// The SDK's ~/.config/kfp/context.json lives under the pod's HOME.
	env["HOME"] = filepath.Join(root, "home")
	if body := contextJSON(cf); body != "" {
		if err := writeFiles(filepath.Join(env["HOME"], ".config", "kfp"), map[string]string{"context.json": body}); err != nil {
			return deletePod, err
		}
		step("~/.config/kfp/context.json holds %s (fault)", body)
	}
	cfg.Getenv = func(k string) string { return env[k] }
	cfg.DefaultTokenPath = filepath.Join(root, credentials.DefaultTokenPath)
	// The credentials the call passes, in the SDK's terms.
	switch {
	case cf.NoToken || p.Token.Kind == scenarios.NoToken:
		step("no credentials= passed")
	case p.Token.Path != "":
		cfg.TokenPath = filepath.Join(root, p.Token.Path)
		step("credentials=ServiceAccountTokenVolumeCredentials(path=%q)", p.Token.Path)
	default:
		cfg.VolumeCredentials = true
		step("credentials=ServiceAccountTokenVolumeCredentials()")
	}
	dialer, err := svcdial.New(e.Config, created.Namespace)
	if err != nil {
		return deletePod, err
	}
	// The client's connections are its pod's: through the sidecars of the
	// pods it calls, from its pod's address (which they know it by).
	dialer.ThroughSidecars = true
	if running, err := e.Client.CoreV1().Pods(created.Namespace).Get(ctx, created.Name, metav1.GetOptions{}); err == nil {
		dialer.Source, _ = netip.ParseAddr(running.Status.PodIP)
	}
	cfg.Dial = dialer.DialContext
	cfg.Host = p.Host
	if cf.Host != "" {
		cfg.Host = cf.Host
	}
	if cfg.Host == "" && (cf.Port != 0 || cf.Suffix != "") {
		dialer.Close()
		return deletePod, fmt.Errorf("path %s: the Port and Suffix faults change a host, and kfp.Client() is given none", p.Name)
	}
	if cf.Port != 0 {
		cfg.Host = withPort(cfg.Host, cf.Port)
	}
	cfg.Host += cf.Suffix
	if cfg.Host == "" {
		step("kfp.Client() with no host: the SDK's in-cluster default")
	}
	cleanup := func() { dialer.Close(); deletePod() }

	if cf.InvalidateToken {
		deletePod()
		step("pod %s deleted: its tokens must stop working", created.Name)
		if err := e.waitPodGone(ctx, created); err != nil {
			return cleanup, err
		}
		if lastToken != "" {
			if err := e.waitTokenRefused(ctx, lastToken, lastAudience); err != nil {
				return cleanup, fmt.Errorf("a token bound to a deleted pod is still accepted: %w", err)
			}
		}
	}
	return cleanup, nil
}

// fromOutside builds the client of an out-of-cluster path: a port-forward
// to the Service, and a token minted by TokenRequest.
func (e *Env) fromOutside(ctx context.Context, p scenarios.Path, cf scenarios.ClientFault, workdir string, cfg *doctorCall, step func(string, ...any)) (func(), error) {
	if p.NeedsPodNetwork() {
		return e.serviceProxy(p, cf, workdir, cfg, step)
	}
	if cf.ContextNamespace != "" {
		return func() {}, fmt.Errorf("path %s: the ContextNamespace fault is for in-cluster paths", p.Name)
	}
	home := ""
	if cf.ContextHeader[0] != "" {
		home = filepath.Join(workdir, "home")
		body := fmt.Sprintf("{\"client_authentication_header_name\": %q, \"client_authentication_header_value\": %q}", cf.ContextHeader[0], cf.ContextHeader[1])
		if err := writeFiles(filepath.Join(home, ".config", "kfp"), map[string]string{"context.json": body}); err != nil {
			return func() {}, err
		}
		cfg.Getenv = func(k string) string {
			if k == "HOME" {
				return home
			}
			return ""
		}
		step("~/.config/kfp/context.json holds the header %s (fault)", cf.ContextHeader[0])
	}
	dialer, err := svcdial.New(e.Config, KFPNamespace)
	if err != nil {
		return func() {}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dialer.Close()
		return func() {}, err
	}
	ns := p.PortForward.Namespace
	if ns == "" {
		ns = KFPNamespace
	}
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dialer.Forward(fctx, ln, fmt.Sprintf("%s.%s:%d", p.PortForward.Service, ns, p.PortForward.Port))
	}()
	cleanup := func() { stop(); <-done; dialer.Close() }
	step("port-forward -n %s svc/%s %s:%d", ns, p.PortForward.Service, ln.Addr(), p.PortForward.Port)
	if p.Session != nil {
		if err := e.sessionCookies(ctx, p, cf, "http://"+ln.Addr().String(), cfg, step); err != nil {
			return cleanup, err
		}
	}
	if p.Login != nil {
		lg := *p.Login
		if o := cf.Login; o != nil {
			for _, f := range []struct {
				to   *string
				from string
			}{{&lg.Username, o.Username}, {&lg.Password, o.Password}, {&lg.Connector, o.Connector}} {
				if f.from != "" {
					*f.to = f.from
				}
			}
		}
		cfg.Username, cfg.LoginConnector = lg.Username, lg.Connector
		cfg.Getenv = func(k string) string {
			switch k {
			case doctor.EnvPassword:
				return lg.Password
			case "HOME":
				return home
			}
			return ""
		}
		step("log in through Dex as %s (connector %q)", lg.Username, lg.Connector)
	}
	cfg.Host = "http://" + ln.Addr().String() + p.Host
	if cf.NoPrefix {
		cfg.Host = "http://" + ln.Addr().String()
		step("host without the path's %q (fault)", p.Host)
	}
	if cf.Port != 0 {
		cfg.Host = withPort(cfg.Host, cf.Port)
	}
	cfg.Host += cf.Suffix
	cfg.CheckWrite = p.CheckWrite
	if p.Token.Kind == scenarios.MintedToken && !cf.NoToken {
		sa := p.Token.ServiceAccount
		if cf.ServiceAccount != "" {
			sa = cf.ServiceAccount
		}
		ns, name, _ := strings.Cut(sa, "/")
		aud := p.Token.Audience
		if cf.Audience != "" {
			aud = cf.Audience
		}
		var tok string
		if cf.ForeignIssuer {
			// Shaped like the cluster's tokens, but from an issuer (and a
			// key) the cluster's gateway knows nothing of.
			tok, err = jwttest.Mint(jwttest.Token{Namespace: ns, ServiceAccount: name, Audience: audiences(aud),
				Expires: time.Now().Add(time.Hour), Extra: map[string]any{"iss": foreignIssuer}})
			step("token for %s signed by another key, issuer %s (fault)", sa, foreignIssuer)
		} else {
			tok, err = e.mint(ctx, ns, name, aud)
		}
		if err != nil {
			return cleanup, err
		}
		file := filepath.Join(workdir, "token-"+ns+"-"+name)
		if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
			return cleanup, err
		}
		cfg.TokenFile = file
		step("token minted for %s, audience %q", sa, aud)
	}
	return cleanup, nil
}

// writeFiles writes name → content into dir, as a volume mount would.
func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func withPort(host string, port int) string {
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	u.Host = net.JoinHostPort(u.Hostname(), fmt.Sprint(port))
	return u.String()
}

func addTokenVolume(pod *corev1.Pod, name, mountDir, audience string, expiry int64) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: audience, ExpirationSeconds: &expiry}}},
	}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mountDir, ReadOnly: true})
}

func volumeNamed(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

var podDefaults = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"}

// podDefaultSpec is the part of a PodDefault the admission webhook merges.
type podDefaultSpec struct {
	Selector     metav1.LabelSelector `json:"selector"`
	Env          []corev1.EnvVar      `json:"env"`
	Volumes      []corev1.Volume      `json:"volumes"`
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
}

// applyPodDefaults does what Kubeflow's admission webhook does at pod
// creation (no webhook runs here): merge the env, volumes and mounts of every
// PodDefault of the namespace whose selector matches the pod's labels.
func (e *Env) applyPodDefaults(ctx context.Context, pod *corev1.Pod) ([]string, error) {
	list, err := e.Dyn.Resource(podDefaults).Namespace(pod.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil // no PodDefault CRD: standalone KFP
	}
	if err != nil {
		return nil, fmt.Errorf("listing PodDefaults: %w", err)
	}
	var applied []string
	for _, item := range list.Items {
		var pd struct {
			Spec podDefaultSpec `json:"spec"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &pd); err != nil {
			return nil, fmt.Errorf("PodDefault %s: %w", item.GetName(), err)
		}
		sel, err := metav1.LabelSelectorAsSelector(&pd.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("PodDefault %s: %w", item.GetName(), err)
		}
		if sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c := &pod.Spec.Containers[0]
		c.Env = append(c.Env, pd.Spec.Env...)
		c.VolumeMounts = append(c.VolumeMounts, pd.Spec.VolumeMounts...)
		pod.Spec.Volumes = append(pod.Spec.Volumes, pd.Spec.Volumes...)
		applied = append(applied, item.GetName())
	}
	return applied, nil
}

func (e *Env) mintBound(ctx context.Context, pod *corev1.Pod, audience string, expiry *int64) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: expiry,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	tr, err := e.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting the pod's token: %w", err)
	}
	return tr.Status.Token, nil
}

// foreignIssuer is the iss of the ForeignIssuer fault's token.
const foreignIssuer = "https://issuer.example.com"

// audiences is a TokenRequest's audiences: none for "", which makes the
// apiserver use its own, as `kubectl create token` without --audience does.
func audiences(audience string) []string {
	if audience == "" {
		return nil
	}
	return []string{audience}
}

func (e *Env) mint(ctx context.Context, ns, sa, audience string) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences(audience)}}
	tr, err := e.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting a token for %s/%s: %w", ns, sa, err)
	}
	return tr.Status.Token, nil
}

func (e *Env) waitPodRunning(ctx context.Context, pod *corev1.Pod) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
}

// waitPodGone waits until the pod is deleted.
func (e *Env) waitPodGone(ctx context.Context, pod *corev1.Pod) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// waitTokenRefused waits until TokenReview refuses the token: the apiserver
// learns of a bound pod's deletion through a cache.
func (e *Env) waitTokenRefused(ctx context.Context, token, audience string) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		tr, err := e.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}, metav1.CreateOptions{})
		return err == nil && !tr.Status.Authenticated, nil
	})
}

// contextJSON is the ~/.config/kfp/context.json a fault leaves in a pod: a
// namespace an earlier set_user_namespace stored, a header the SDK then
// sends on every call (client_authentication_header_name/_value); "" for
// none.
func contextJSON(cf scenarios.ClientFault) string {
	fields := map[string]string{}
	if cf.ContextNamespace != "" {
		fields["namespace"] = cf.ContextNamespace
	}
	if cf.ContextHeader[0] != "" {
		fields["client_authentication_header_name"], fields["client_authentication_header_value"] = cf.ContextHeader[0], cf.ContextHeader[1]
	}
	if len(fields) == 0 {
		return ""
	}
	b, _ := json.Marshal(fields)
	return string(b)
}
