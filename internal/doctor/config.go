package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// Environment variables the doctor reads besides the SDK's own (sdkmodel).
const (
	EnvHost    = sdkmodel.EnvEndpoint // KF_PIPELINES_ENDPOINT, as the SDK
	EnvToken   = "KFP_DOCTOR_TOKEN"
	EnvCookies = "KFP_DOCTOR_COOKIES"
	// EnvPassword is the Dex password for --username; the other source is
	// stdin (--password-stdin). Never a flag: flag values show in ps.
	EnvPassword = "KFP_DOCTOR_PASSWORD"
)

// Config is what the user told the doctor: the flags, nothing else (a
// --client-config spells the call's flags as data). Run reads it and never
// writes it; what the run derives from it (and from the
// environment, the SDK's files and the cluster) is the Plan.
type Config struct {
	Host      string
	Namespace string
	// TokenPath is --token-path: the call passes
	// credentials=ServiceAccountTokenVolumeCredentials(path=TokenPath).
	TokenPath string
	// VolumeCredentials is --volume-credentials: the call passes
	// credentials=ServiceAccountTokenVolumeCredentials(), whose path is
	// $KF_PIPELINES_SA_TOKEN_PATH, then the default.
	VolumeCredentials bool
	// TokenFile is --token-file: a static token (existing_token).
	TokenFile string
	// Token is existing_token= as a value, and TokenSource where it came
	// from: only a --client-config carries one, never a flag (flag values
	// show in ps).
	Token       string
	TokenSource string
	// ClientConfig is --client-config: a file, or "-" for stdin, describing
	// the kfp.Client call (ClientCall) in place of the call flags. With it
	// the doctor's own $KFP_DOCTOR_TOKEN and $KFP_DOCTOR_COOKIES are not
	// read: the call is the client's, whole. ClientSource is what the
	// document says it describes ("kfp.Client object"), for the report.
	ClientConfig       string
	ClientSource       string
	Cookies            string // raw, or @file
	CACert             string
	InsecureSkipVerify bool
	Timeout            time.Duration
	Strict             bool
	// CheckWrite is --check-write: also create an experiment in the
	// namespace and delete it, as a user's next call would.
	CheckWrite bool

	// Kubeconfig and KubeContext are --kubeconfig and --context, with
	// kubectl's semantics ("" means $KUBECONFIG, then ~/.kube/config).
	Kubeconfig  string
	KubeContext string
	// Impersonate and ImpersonateGroups are kubectl's --as and --as-group:
	// every Kubernetes API call of the run is made as that user.
	Impersonate       string
	ImpersonateGroups []string
	// RequestTimeout is kubectl's --request-timeout: the deadline of one
	// Kubernetes API call; 0 means the doctor's own (Deadlines.KubeCall).
	RequestTimeout time.Duration
	// KFPNamespace is --kfp-namespace: where KFP is installed; "" discovers.
	KFPNamespace string
	// Scenario is --scenario: "" or "auto" guesses from discovery and env.
	Scenario string
	// SDKDefaultHost is --sdk-default-host: with no host outside a pod,
	// check what kfp.Client() does there (the kube-apiserver's service
	// proxy) instead of port-forwarding to ml-pipeline-ui.
	SDKDefaultHost bool

	// Username is --username: log in through the gateway's Dex before the
	// other probes, and send the session the login gets.
	Username string
	// LoginConnector is --login-connector, the Dex connector id ("" means local).
	LoginConnector string
	// PasswordStdin is --password-stdin: read the password from
	// Seams.Stdin instead of $KFP_DOCTOR_PASSWORD.
	PasswordStdin bool
}

// Seams are what the doctor takes from the process around it: the
// environment, the file system, the network, stdin. The zero value is the
// real process; tests, the suites and the conformance runner replace parts
// to act as a pod or to count calls. They are apart from Config because they
// are not the user's answers.
type Seams struct {
	// Getenv is os.Getenv.
	Getenv func(string) string
	// Stat is os.Stat, replaceable in tests that pretend to be in a pod.
	Stat func(string) (os.FileInfo, error)
	// ReadFile is os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// InClusterConfig replaces rest.InClusterConfig and ServiceAccountDir
	// the kubelet's mount: tests that act as a pod.
	InClusterConfig   func() (*rest.Config, error)
	ServiceAccountDir string
	// DefaultTokenPath replaces the SDK's default token path: the suites run
	// the doctor as a pod whose projected volume is a temporary directory.
	DefaultTokenPath string
	// Dial replaces the network dialer (the suites reach cluster Service
	// names through the cluster's own objects, as a pod would).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// WrapKube, when set, wraps the transport of every Kubernetes API call
	// the doctor makes (benchmarks count them with it).
	WrapKube func(http.RoundTripper) http.RoundTripper
	// Stdin is what --password-stdin reads; nil is os.Stdin.
	Stdin io.Reader
	// Started is when the user's command began (the CLI's process start):
	// the run's deadline counts from it, so that --timeout bounds what the
	// user waits, start-up included. Zero counts from the call to Run.
	Started time.Time
}

// withDefaults fills the unset seams with the process's own. Seams is
// passed by value: the caller's copy stays as it was.
func (s Seams) withDefaults() Seams {
	if s.Getenv == nil {
		s.Getenv = os.Getenv
	}
	if s.Stat == nil {
		s.Stat = os.Stat
	}
	if s.ReadFile == nil {
		s.ReadFile = os.ReadFile
	}
	if s.InClusterConfig == nil {
		s.InClusterConfig = rest.InClusterConfig
	}
	if s.ServiceAccountDir == "" {
		s.ServiceAccountDir = discover.ServiceAccountDir
	}
	if s.Stdin == nil {
		s.Stdin = os.Stdin
	}
	return s
}

// localPath maps the SDK's default token path to the one this run uses
// (the suites mount a pod's volume under a temporary directory).
func (s Seams) localPath(p string) string {
	if p == sdkmodel.DefaultTokenPath && s.DefaultTokenPath != "" {
		return s.DefaultTokenPath
	}
	return p
}

func (s Seams) fileThere(p string) bool {
	fi, err := s.Stat(p)
	return err == nil && !fi.IsDir()
}

// The ceilings of the doctor's own deadlines: a dial or a Kubernetes API
// call that takes longer is reported as slow or dead rather than waited for.
// One probe or login request gets more than the slowest answer a working
// path may give: Istio's gateway spends up to 5 s fetching the JWKS a
// token's rule names (Envoy's remote JWKS timeout) before it answers 401
// "Jwks remote fetch is failed" (KFD008); a wait of 6 s still called that
// path hung (KFD024) on a loaded node, so 3 s of margin. A shorter
// --timeout lowers them all.
const (
	maxConnect = 2 * time.Second
	maxRequest = 8 * time.Second
)

// Deadlines are the run's deadlines by name, settled once from --timeout
// and --request-timeout.
type Deadlines struct {
	// Run is --timeout: the whole run, probes and cluster set-up.
	Run time.Duration
	// Connect bounds a TCP connect and a TLS handshake.
	Connect time.Duration
	// KubeCall bounds one Kubernetes API call (--request-timeout if given).
	KubeCall time.Duration
	// Probe is a probe's own deadline when it sets none.
	Probe time.Duration
	// LoginRequest bounds one request of the login flow.
	LoginRequest time.Duration
	// PasswordRead bounds reading --password-stdin: a pipe that never
	// delivers ends then.
	PasswordRead time.Duration
}

func newDeadlines(cfg Config) Deadlines {
	d := Deadlines{
		Run:          cfg.Timeout,
		Connect:      min(maxConnect, cfg.Timeout),
		KubeCall:     min(maxConnect, cfg.Timeout),
		Probe:        min(maxRequest, cfg.Timeout),
		LoginRequest: min(maxRequest, cfg.Timeout),
		PasswordRead: cfg.Timeout,
	}
	if cfg.RequestTimeout > 0 {
		d.KubeCall = cfg.RequestTimeout
	}
	return d
}

// UsageError is a problem with what the user asked for or with the
// configuration the doctor found (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error { return &UsageError{Err: fmt.Errorf(format, args...)} }

// IsUsage reports a usage error.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// validate checks the flags that need no input to be judged.
func (cfg Config) validate() error {
	if cfg.Timeout <= 0 {
		return usage("--timeout must be positive, got %s", cfg.Timeout)
	}
	if cfg.RequestTimeout < 0 {
		return usage("--request-timeout must not be negative, got %s", cfg.RequestTimeout)
	}
	if len(cfg.ImpersonateGroups) > 0 && cfg.Impersonate == "" {
		return usage("--as-group needs --as: Kubernetes impersonates groups only together with a user")
	}
	if cfg.PasswordStdin && cfg.Username == "" {
		return usage("--password-stdin reads the password for --username: pass --username too")
	}
	_, _, err := parseScenario(cfg.Scenario)
	return err
}
