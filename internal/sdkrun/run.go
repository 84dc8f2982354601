package sdkrun

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed driver.py
var driverPy []byte

// DriverScript is the driver's Python source: the notebook image carries it.
func DriverScript() []byte { return append([]byte(nil), driverPy...) }

// Case is one kfp.Client as a path's user builds and uses it.
type Case struct {
	// kfp.Client's keyword arguments ("" and nil are left out).
	Host, Namespace, Cookies, SSLCACert, KubeContext string
	VerifySSL                                        *bool
	// ExistingTokenFile holds the token passed as existing_token=, as
	// `kubectl create token … > FILE` leaves it (the driver reads it: the
	// token is on no command line and in no message).
	ExistingTokenFile string
	// ContextFile is copied to ~/.config/kfp/context.json before the
	// constructor: the user's own file, where a mounted one would be
	// read-only to the SDK, which writes the namespace into it.
	ContextFile string
	// Credentials is credentials=ServiceAccountTokenVolumeCredentials(path=Path).
	Credentials *Credentials
	// Env is the client process's whole environment (HOME, KF_PIPELINES_*, …).
	Env map[string]string
	// Pod, when set, emulates the pod the client runs in.
	Pod *Pod
	// Write goes on to create_experiment and delete_experiment.
	Write bool
	// Diagnose also runs kfp_doctor.diagnose on the client (the Python must
	// have the kfp-doctor package installed).
	Diagnose bool
	// Bound is how long a stage of the SDK (the constructor; the calls) may
	// take before the run is stopped and recorded as hung; 0 is DefaultBound.
	Bound time.Duration
	// RetrySleep, when set, caps the SDK's own sleeps between retries
	// (kfp.Client's healthz loop: five attempts five seconds apart) for a
	// run that wants its verdict, not its wait: the same requests in the
	// same order, the outcome saying the sleeps were shortened. A
	// measurement of what users wait (bench-sdk) leaves it 0.
	RetrySleep time.Duration
}

// Credentials is ServiceAccountTokenVolumeCredentials(path=Path); "" is its default.
type Credentials struct{ Path string }

// Pod is where an emulated pod keeps what the SDK reads at fixed paths, and
// how it reaches cluster names.
type Pod struct {
	// ServiceAccountDir holds namespace, token and ca.crt, as the kubelet
	// mounts them at /var/run/secrets/kubernetes.io/serviceaccount.
	ServiceAccountDir string
	// TokenDefaultPath stands for /var/run/secrets/kubeflow/pipelines/token.
	TokenDefaultPath string
	// Dial maps "name:port" as the SDK dials it to a local "host:port".
	Dial map[string]string
}

// DefaultBound is longer than the SDK's own healthz retries (five attempts
// five seconds apart): a stage that takes longer never ends by itself.
const DefaultBound = 45 * time.Second

// diagnoseBound is what kfp_doctor.diagnose gets (its 10 s run and grace).
const diagnoseBound = 40 * time.Second

// Result is how a run ended.
type Result string

const (
	Succeeded Result = "ok"
	Raised    Result = "raised"
	// Hung: a stage had not ended at the bound and was stopped (KFD024).
	Hung Result = "hung"
	// Broken: the driver itself failed; no verdict of the SDK.
	Broken Result = "error"
)

// Outcome is what the SDK did.
type Outcome struct {
	Result Result `json:"result"`
	// Stage is where it raised or hung: constructor, list_experiments,
	// create_experiment, delete_experiment.
	Stage      string `json:"stage,omitempty"`
	Exception  string `json:"exception,omitempty"` // module.Class
	Message    string `json:"message,omitempty"`   // its first line
	HTTPStatus int    `json:"http_status,omitempty"`
	KFPCode    *int   `json:"kfp_code,omitempty"`
	// Listed is how many experiments list_experiments returned.
	Listed int `json:"listed,omitempty"`
	// RetrySleeps of the SDK's own were shortened to RetrySleepS seconds
	// (Case.RetrySleep).
	RetrySleeps int     `json:"retry_sleeps_shortened,omitempty"`
	RetrySleepS float64 `json:"retry_sleep_s,omitempty"`
	// Elapsed is the SDK's own time: the constructor and the calls.
	Elapsed   time.Duration `json:"-"`
	ElapsedS  float64       `json:"elapsed_s"`
	Diagnosis *Diagnosis    `json:"diagnosis,omitempty"`
	// Log is the end of what the SDK logged (its warnings, retries).
	Log string `json:"log,omitempty"`
}

// Diagnosis is kfp_doctor.diagnose's report on the client.
type Diagnosis struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	Text  string          `json:"text,omitempty"`
	HTML  string          `json:"html,omitempty"`
	Error string          `json:"error,omitempty"`
}

// String is the outcome on one line.
func (o *Outcome) String() string {
	d := o.Elapsed.Round(10 * time.Millisecond)
	switch o.Result {
	case Succeeded:
		return fmt.Sprintf("listed %d experiment(s) in %s", o.Listed, d)
	case Raised:
		s := fmt.Sprintf("%s raised %s", o.Stage, shortClass(o.Exception))
		var parts []string
		if o.HTTPStatus != 0 {
			parts = append(parts, fmt.Sprintf("HTTP %d", o.HTTPStatus))
		}
		if o.KFPCode != nil {
			parts = append(parts, fmt.Sprintf("KFP code %d", *o.KFPCode))
		}
		if len(parts) > 0 {
			s += " (" + strings.Join(parts, ", ") + ")"
		}
		s += " in " + d.String()
		if o.RetrySleeps > 0 {
			s += fmt.Sprintf(" (%d of its retry sleeps shortened to %gs)", o.RetrySleeps, o.RetrySleepS)
		}
		return s
	case Hung:
		return fmt.Sprintf("%s hung: no answer after %s, stopped (KFD024)", o.Stage, d)
	}
	return "the SDK's run failed: " + o.Message
}

func shortClass(c string) string {
	if i := strings.LastIndex(c, "."); i >= 0 {
		return c[i+1:]
	}
	return c
}

// Driver is one Python process that runs cases one after another: it
// imports the SDK once and forks a fresh child per case.
type Driver struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	dir  string
	mu   sync.Mutex
	next int
	dead error
}

// Start starts the driver under python (the SDK's interpreter, or a venv's
// with kfp-doctor installed) with the SDK's PYTHONPATH; what Python itself
// writes to stderr (a traceback of the driver) goes to stderr — a Ginkgo
// suite's GinkgoWriter, so a process that outlives a spec holds no pipe of
// Ginkgo's output capture.
func Start(ctx context.Context, python string, sdk *SDK, stderr io.Writer) (*Driver, error) {
	dir, err := os.MkdirTemp("", "kfp-sdkrun-")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "driver.py")
	if err := os.WriteFile(script, driverPy, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(python, "-u", script)
	cmd.Env = sdk.Env([]string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "HOME=" + dir})
	cmd.Stderr = stderr
	// Its own process group: Close ends the children a killed case left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", python, err)
	}
	d := &Driver{cmd: cmd, in: in, out: bufio.NewReaderSize(outPipe, 1<<20), dir: dir}
	var ready struct {
		Ready string `json:"ready"`
	}
	if err := d.readLine(ctx, time.Minute, &ready); err != nil || ready.Ready == "" {
		d.Close()
		return nil, fmt.Errorf("the SDK driver did not start (import kfp under %s): %v", python, err)
	}
	return d, nil
}

type caseLine struct {
	ID                int               `json:"id,omitempty"`
	KeepEnv           bool              `json:"keep_env,omitempty"`
	Kwargs            map[string]any    `json:"kwargs"`
	ExistingTokenFile string            `json:"existing_token_file,omitempty"`
	ContextFile       string            `json:"context_file,omitempty"`
	Credentials       *map[string]any   `json:"credentials,omitempty"`
	Env               map[string]string `json:"env,omitempty"`
	Pod               *podLine          `json:"pod,omitempty"`
	Write             bool              `json:"write,omitempty"`
	Diagnose          bool              `json:"diagnose,omitempty"`
	BoundS            float64           `json:"bound_s"`
	DiagnoseBoundS    float64           `json:"diagnose_bound_s"`
	RetrySleepS       float64           `json:"retry_sleep_s,omitempty"`
}

type podLine struct {
	SADir        string            `json:"sa_dir"`
	TokenDefault string            `json:"token_default"`
	Dial         map[string]string `json:"dial,omitempty"`
}

// Run runs one case and returns what the SDK did.
func (d *Driver) Run(ctx context.Context, c Case) (*Outcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead != nil {
		return nil, d.dead
	}
	d.next++
	line := c.line()
	line.ID = d.next
	if line.Env == nil {
		line.Env = map[string]string{}
	}
	b, err := json.Marshal(line)
	if err != nil {
		return nil, err
	}
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		return nil, d.fail(fmt.Errorf("writing to the SDK driver: %w", err))
	}
	// The driver stops a stage at its bound; this one is for the driver.
	wait := c.Wait()
	var o Outcome
	if err := d.readLine(ctx, wait, &o); err != nil {
		return nil, d.fail(err)
	}
	o.Elapsed = time.Duration(o.ElapsedS * float64(time.Second))
	return &o, nil
}

// Wait bounds a whole run of c: two stages at their bound (the last of
// which is stopped there), kfp_doctor.diagnose's and the child's start and
// end.
func (c Case) Wait() time.Duration { return 2*c.bound() + diagnoseBound + 30*time.Second }

func (c Case) bound() time.Duration {
	if c.Bound <= 0 {
		return DefaultBound
	}
	return c.Bound
}

// PodArgs are the driver's arguments for c in a pod whose image carries the
// driver and the SDK (images.NotebookRef): one case, run in the pod's own
// environment, its outcome the log's last line (ParseOutcome).
func (c Case) PodArgs(driver string) ([]string, error) {
	if c.Env != nil || c.Pod != nil {
		return nil, errors.New("a case in a real pod runs in the pod's own environment and files: no Env, no Pod")
	}
	line := c.line()
	line.KeepEnv = true
	b, err := json.Marshal(line)
	if err != nil {
		return nil, err
	}
	return []string{driver, "--case", string(b)}, nil
}

// ParseOutcome reads a pod's outcome: the last line of its log.
func ParseOutcome(log []byte) (*Outcome, error) {
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	var o Outcome
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &o); err != nil || o.Result == "" {
		return nil, fmt.Errorf("the SDK pod's log ends without an outcome: %q", lines[len(lines)-1])
	}
	o.Elapsed = time.Duration(o.ElapsedS * float64(time.Second))
	return &o, nil
}

func (c Case) line() caseLine {
	line := caseLine{Kwargs: map[string]any{}, ExistingTokenFile: c.ExistingTokenFile, ContextFile: c.ContextFile, Env: c.Env,
		Write: c.Write, Diagnose: c.Diagnose, BoundS: c.bound().Seconds(), DiagnoseBoundS: diagnoseBound.Seconds(),
		RetrySleepS: c.RetrySleep.Seconds()}
	for k, v := range map[string]string{"host": c.Host, "namespace": c.Namespace, "cookies": c.Cookies, "ssl_ca_cert": c.SSLCACert, "kube_context": c.KubeContext} {
		if v != "" {
			line.Kwargs[k] = v
		}
	}
	if c.VerifySSL != nil {
		line.Kwargs["verify_ssl"] = *c.VerifySSL
	}
	if c.Credentials != nil {
		m := map[string]any{}
		if c.Credentials.Path != "" {
			m["path"] = c.Credentials.Path
		}
		line.Credentials = &m
	}
	if p := c.Pod; p != nil {
		line.Pod = &podLine{SADir: p.ServiceAccountDir, TokenDefault: p.TokenDefaultPath, Dial: p.Dial}
	}
	return line
}

// readLine reads one JSON line within wait, or fails.
func (d *Driver) readLine(ctx context.Context, wait time.Duration, v any) error {
	type got struct {
		line []byte
		err  error
	}
	ch := make(chan got, 1)
	go func() {
		line, err := d.out.ReadBytes('\n')
		ch <- got{line, err}
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g := <-ch:
		if g.err != nil {
			return fmt.Errorf("reading from the SDK driver: %w", g.err)
		}
		return json.Unmarshal(g.line, v)
	case <-ctx.Done():
		d.kill()
		return ctx.Err()
	case <-t.C:
		d.kill()
		return fmt.Errorf("the SDK driver gave no answer within %s", wait)
	}
}

func (d *Driver) fail(err error) error {
	d.dead = err
	d.kill()
	return err
}

func (d *Driver) kill() {
	if d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Close ends the driver and every process it started, and removes its files.
func (d *Driver) Close() error {
	_ = d.in.Close()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		// Its group: the driver and the case it forks.
		d.kill()
		err = <-done
	}
	os.RemoveAll(d.dir)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // killed on purpose or after a failed case: nothing to add
	}
	return err
}
