// Package scenarios declares, as data, the four documented ways a kfp.Client
// reaches KFP — standalone or multi-user, inside or outside the cluster — each
// with its connection paths, the faults users hit, and what every path must
// yield under every fault: success, or the catalogue id the doctor must name.
// The suites run them (internal/conformance); nothing here talks to a cluster.
package scenarios

import (
	"fmt"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// Location is where the client runs.
type Location string

const (
	InCluster    Location = "in-cluster"
	OutOfCluster Location = "out-of-cluster"
)

// Scenario is one deployment × location.
type Scenario struct {
	Name     string // "standalone/in-cluster"
	Mode     kubeflow.Mode
	Location Location
	// Extra fixture files (paths in fixtures.RBAC) applied after the install.
	Extra  []string
	Paths  []Path
	Faults []Fault
	Cases  []Case
}

// Path is one documented way to connect.
type Path struct {
	Name string
	Doc  string // what the documentation says to do
	// Host is the kfp.Client host. For out-of-cluster paths it is relative to
	// the port-forward: "/pipeline" becomes http://localhost:PORT/pipeline.
	// "" in a pod is kfp.Client() with no host: the SDK's in-cluster default
	// (internal/sdkmodel), ml-pipeline.<namespace>.svc.cluster.local:8888
	// with the default credentials.
	Host string
	// PortForward, when set, is `kubectl port-forward svc/<Service> PORT:<Port>`
	// in the KFP namespace, and Host is appended to its local URL.
	PortForward *PortForward
	// Pod, for in-cluster paths, is the pod the client runs in.
	Pod *Pod
	// Namespace is the user namespace the client passes (kfp namespace=).
	Namespace string
	// Token is the credential the client passes.
	Token Token
	// Login, for out-of-cluster paths through the gateway, logs in through
	// Dex as a browser would before the calls (the doctor's --username).
	Login *Login
	// Session, for out-of-cluster paths through the gateway, is a login the
	// user's own script made: the suite logs in as this user and the client
	// sends the session's cookies (kfp.Client(cookies=…), the doctor's
	// --cookies).
	Session *Login
	// CheckWrite goes on to the user's next call on the same connection:
	// create an experiment in the namespace (and delete it), the doctor's
	// --check-write.
	CheckWrite bool
	// Install, when set, is a variant of the install this path needs (the
	// gateway's authservice generation, Dex's approval page), applied and
	// reverted around each of its cases like a cluster-side fault.
	Install *Fault
	// ServiceProxy is kfp.Client() with no host outside a pod: the
	// kube-apiserver's service proxy to ml-pipeline, with the kubeconfig's
	// credentials. The apiserver then dials a pod IP itself, so it runs
	// only where pod IPs are real (NeedsPodNetwork).
	ServiceProxy bool
}

// Login is a Dex user of the lab's login stack.
type Login struct {
	Username, Password string
	// Connector is Dex's connector id: local (static passwords) or ldap.
	Connector string
}

// NeedsPodNetwork reports whether the path makes the kube-apiserver dial a
// pod: kwok's pods have fake IPs on no machine, so such paths do not run
// there: it runs where pod IPs are real (the node and kind providers, a real cluster).
func (p Path) NeedsPodNetwork() bool { return p.ServiceProxy }

// PortForward is a kubectl port-forward to a Service.
type PortForward struct {
	// Namespace is the Service's; empty means KFP's.
	Namespace string
	Service   string
	Port      int
}

// Pod is the client's pod. The suite creates it, applies the PodDefaults
// whose selector matches its labels (as Kubeflow's admission webhook would),
// mints the projected tokens of its volumes bound to it, and runs the client
// with its env, its files and its view of cluster DNS.
type Pod struct {
	Namespace      string
	ServiceAccount string
	Labels         map[string]string
	// Volume declares the documented projected token volume on the pod itself
	// (instead of through a PodDefault), mounted at MountDir.
	Volume *TokenVolume
	Env    map[string]string
}

// TokenVolume is the documented projected ServiceAccount token volume.
type TokenVolume struct {
	MountDir          string
	Audience          string
	ExpirationSeconds int64
}

// TokenKind is how the client authenticates.
type TokenKind string

const (
	// NoToken passes no credentials: kfp.Client(host=…) then sends none,
	// and kfp.Client() with no host in a pod uses the default ones.
	NoToken TokenKind = ""
	// VolumeToken is credentials=ServiceAccountTokenVolumeCredentials(…):
	// the pod's token file, found by path (Token.Path),
	// KF_PIPELINES_SA_TOKEN_PATH or the default.
	VolumeToken TokenKind = "volume"
	// MintedToken is `kubectl create token` passed as existing_token.
	MintedToken TokenKind = "minted"
)

// Token is the client's credential.
type Token struct {
	Kind TokenKind
	// Path is an explicit token path (credentials=…(path=…)), for VolumeToken.
	Path string
	// ServiceAccount "namespace/name" and Audience, for MintedToken.
	ServiceAccount string
	Audience       string
	// Issuer, when set, signs the MintedToken with another key and this
	// iss instead of the cluster's: a token from an issuer the cluster
	// does not know.
	Issuer string
}

// Fault is a misconfiguration. Exactly one of its parts is set, except
// Mesh, which may come with one other cluster-side part (an install
// variant that changes a program and the mesh's policies with it).
type Fault struct {
	Name string
	Doc  string
	// Cluster-side faults, reverted after the case.
	Delete     *ObjectRef
	Scale      *Scale
	SetEnv     *SetEnv
	EditConfig *EditConfig
	// Mesh changes Istio's objects (a distribution's policies, a
	// PeerAuthentication added, a RequestAuthentication without the
	// cluster's issuer), each restored after the case; the case starts once
	// the mesh's proxies hold the change.
	Mesh []MeshChange
	// Client is a client-side fault: a change to the client the path
	// declares (internal/../scenarios/clientfault has them, one per file).
	Client ClientChange
	// Admission: the fault is in the PodDefault webhook, which only a
	// cluster whose apiserver calls it has (the node provider); elsewhere
	// the case is skipped with that reason.
	Admission bool
}

// MeshChange puts one of Istio's security objects in the state a fault
// needs: Spec replaces its spec (creating it if it does not exist), or, nil,
// deletes it.
type MeshChange struct {
	Kind      string // AuthorizationPolicy, PeerAuthentication, RequestAuthentication
	Namespace string
	Name      string
	Spec      map[string]any
}

// ObjectRef names an object to delete.
type ObjectRef struct {
	Kind      string // Service, RoleBinding, PodDefault
	Namespace string
	Name      string
}

// Scale sets a Deployment's replicas.
type Scale struct {
	Namespace, Deployment string
	Replicas              int32
}

// SetEnv sets an env variable on a Deployment's first container.
type SetEnv struct {
	Namespace, Deployment string
	Name, Value           string
}

// EditConfig replaces text in a ConfigMap's key, then restarts the
// Deployment that reads it (as `kubectl rollout restart` would), so its
// program starts with the new configuration.
type EditConfig struct {
	Namespace, ConfigMap, Key string
	Old, New                  string
	Restart                   string // the Deployment, in Namespace
}

// Expect is what a case must yield: success, or the catalogue id the
// doctor must name and the probe that must name it. The probe is part of the
// expectation because the same id from another probe is another diagnosis:
// KFD003 from the audience probe is the cluster's TOKEN_REVIEW_AUDIENCE read
// before any call, from list-experiments it is KFP's own 401.
type Expect struct {
	// OK: the doctor's run passes (list experiments answers). With KFD set
	// too, it passes with a warning naming KFD, from Probe.
	OK bool
	// Probe is the doctor's probe (its id in the report: "token",
	// "list-experiments", "login-credentials", …) that names KFD: the first
	// failing probe, or for OK the one that warns.
	Probe string
	KFD   kfd.ID
	// Also is a second id the report must name (a warning or failure),
	// from AlsoProbe: the doctor saying why, beside what the call gets.
	AlsoProbe string
	Also      kfd.ID
	// Naming is text the failing probe's message must hold: the object it
	// blames (the AuthorizationPolicy kubeflow/ml-pipeline-ui).
	Naming string
}

// Succeeds is the expectation of a working path.
var Succeeds = Expect{OK: true}

// Fails expects the first failing probe to be probe, naming id.
func Fails(probe string, id kfd.ID) Expect { return Expect{Probe: probe, KFD: id} }

// Warns expects a passing run in which probe warns with id.
func Warns(probe string, id kfd.ID) Expect { return Expect{OK: true, Probe: probe, KFD: id} }

// Blaming adds text the failing probe's message must hold.
func (e Expect) Blaming(text string) Expect {
	e.Naming = text
	return e
}

// AndNames adds the second id the report must name, and the probe naming it.
func (e Expect) AndNames(probe string, id kfd.ID) Expect {
	e.AlsoProbe, e.Also = probe, id
	return e
}

func (e Expect) String() string {
	also := ""
	if e.Also != "" {
		also = ", and " + e.AlsoProbe + " naming " + string(e.Also)
	}
	switch {
	case e.OK && e.KFD != "":
		return "succeeds with a warning " + string(e.KFD) + " from " + e.Probe + also
	case e.OK:
		return "succeeds" + also
	}
	return "fails with " + string(e.KFD) + " from " + e.Probe + also
}

// Case is one path under one fault ("" for none).
type Case struct {
	Path   string
	Fault  string
	Expect Expect
	// Pending, when set, declares a case that is not run yet, and why.
	Pending string
}

// Name is how a case shows in reports: "path", or "path × fault".
func (c Case) Name() string {
	if c.Fault == "" {
		return c.Path
	}
	return c.Path + " × " + c.Fault
}

// Path returns the named path.
func (s *Scenario) Path(name string) (Path, bool) {
	for _, p := range s.Paths {
		if p.Name == name {
			return p, true
		}
	}
	return Path{}, false
}

// Fault returns the named fault.
func (s *Scenario) Fault(name string) (Fault, bool) {
	for _, f := range s.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// Validate checks that every case names a declared path and fault, that a
// fault sets exactly one part, and that failures name a catalogue id.
func (s *Scenario) Validate() error {
	for _, f := range s.Faults {
		n := 0
		if n = f.parts(); n > 1 || n == 0 && len(f.Mesh) == 0 || n == 1 && len(f.Mesh) > 0 && f.Client != nil {
			return fmt.Errorf("%s: fault %q must set exactly one of Delete, Scale, SetEnv, EditConfig, Client, Mesh (Mesh may come with one cluster-side part)", s.Name, f.Name)
		}
		for _, m := range f.Mesh {
			switch m.Kind {
			case "AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication":
			default:
				return fmt.Errorf("%s: fault %q changes a %s, not one of Istio's security kinds", s.Name, f.Name, m.Kind)
			}
		}
	}
	seen := map[string]bool{}
	for _, c := range s.Cases {
		if _, ok := s.Path(c.Path); !ok {
			return fmt.Errorf("%s: case %q names an unknown path", s.Name, c.Name())
		}
		if _, ok := s.Fault(c.Fault); c.Fault != "" && !ok {
			return fmt.Errorf("%s: case %q names an unknown fault", s.Name, c.Name())
		}
		if !c.Expect.OK && c.Expect.KFD == "" && c.Pending == "" {
			return fmt.Errorf("%s: case %q expects a failure without naming its id", s.Name, c.Name())
		}
		for _, n := range []struct {
			probe string
			id    kfd.ID
		}{{c.Expect.Probe, c.Expect.KFD}, {c.Expect.AlsoProbe, c.Expect.Also}} {
			if _, ok := kfd.Lookup(n.id); n.id != "" && !ok {
				return fmt.Errorf("%s: case %q names unknown id %s", s.Name, c.Name(), n.id)
			}
			if (n.id == "") != (n.probe == "") {
				return fmt.Errorf("%s: case %q: an expected id goes with the probe that names it (%q, %q)", s.Name, c.Name(), n.probe, n.id)
			}
		}
		if _, err := s.ClientOf(c); err != nil {
			return err
		}
		if seen[c.Name()] {
			return fmt.Errorf("%s: case %q declared twice", s.Name, c.Name())
		}
		seen[c.Name()] = true
	}
	paths := map[string]bool{}
	for _, p := range s.Paths {
		if paths[p.Name] {
			return fmt.Errorf("%s: path %q declared twice", s.Name, p.Name)
		}
		paths[p.Name] = true
		if p.Install != nil && (p.Install.parts() != 1 || p.Install.Client != nil || p.Install.Delete != nil) {
			return fmt.Errorf("%s: path %q: its install variant must set exactly one of Scale, SetEnv, EditConfig (and may change the mesh)", s.Name, p.Name)
		}
		for _, l := range []*Login{p.Login, p.Session} {
			if l != nil && (l.Username == "" || p.PortForward == nil) {
				return fmt.Errorf("%s: path %q: a login names its user and goes through a port-forward to the gateway", s.Name, p.Name)
			}
		}
		if p.Login != nil && p.Session != nil {
			return fmt.Errorf("%s: path %q: the doctor logs in (Login) or is given a session (Session), not both", s.Name, p.Name)
		}
		if (s.Location == InCluster) != (p.Pod != nil) {
			return fmt.Errorf("%s: path %q: in-cluster paths need a Pod, out-of-cluster ones none", s.Name, p.Name)
		}
		if s.Location == OutOfCluster && (p.PortForward != nil) == p.ServiceProxy {
			return fmt.Errorf("%s: path %q: out-of-cluster paths go through a port-forward or the service proxy", s.Name, p.Name)
		}
		if s.Location == InCluster && (p.PortForward != nil || p.ServiceProxy) {
			return fmt.Errorf("%s: path %q: in-cluster paths need no port-forward", s.Name, p.Name)
		}
	}
	return nil
}

// parts counts the parts of a fault that are set.
func (f *Fault) parts() int {
	n := 0
	for _, set := range []bool{f.Delete != nil, f.Scale != nil, f.SetEnv != nil, f.EditConfig != nil, f.Client != nil} {
		if set {
			n++
		}
	}
	return n
}
