//go:build unix

package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kfp-connect/kfp-connect/internal/localfile"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// maxPluginOutput caps what an exec credential plugin may print: an
// ExecCredential is a token or a certificate and key, a few KB.
const maxPluginOutput = 1 << 20

// execInfoEnv is how a plugin learns what is asked of it (client-go's
// plugin/pkg/client/auth/exec/exec.go sets the same variable).
const execInfoEnv = "KUBERNETES_EXEC_INFO"

// runExecPlugin runs the kubeconfig's exec credential plugin once, under ctx,
// and puts the credential it prints into rc in place of the plugin.
//
// client-go runs the plugin with exec.Command and no context
// (plugin/pkg/client/auth/exec/exec.go, refreshCredsLocked), inside the
// first request's round trip: a plugin that takes 20 s made a 20 s run, and
// neither --timeout nor Ctrl-C ended it. Here the plugin gets its own process
// group, which is killed when ctx ends, and also once the plugin has exited,
// so nothing it started outlives the run.
func runExecPlugin(ctx context.Context, rc *rest.Config) error {
	p := rc.ExecProvider
	if p == nil {
		return nil
	}
	if p.InteractiveMode == clientcmdapi.AlwaysExecInteractiveMode {
		return fmt.Errorf("the kubeconfig's exec plugin %s needs a terminal (interactiveMode: Always); the doctor runs it without one: log in with kubectl first, or use a kubeconfig with a token", p.Command)
	}
	info, err := execInfo(ctx, rc)
	if err != nil {
		return err
	}
	// pctx also ends when the plugin prints more than an ExecCredential.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(pctx, p.Command, p.Args...)
	cmd.Env = append(os.Environ(), execInfoEnv+"="+string(info))
	for _, e := range p.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	var stdout, stderr capped
	stdout.max, stderr.max = maxPluginOutput, 4<<10
	stdout.onOver = stop
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// A grandchild holding stdout open must not keep Wait waiting.
	cmd.WaitDelay = 500 * time.Millisecond
	started := time.Now()
	err = cmd.Run()
	if cmd.Process != nil {
		_ = killGroup(cmd.Process.Pid) // what the plugin left running
	}
	name := p.Command
	switch {
	case ctx.Err() != nil:
		why := "the run was interrupted"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "the run's deadline (--timeout) passed"
		}
		return fmt.Errorf("the kubeconfig's exec credential plugin %s was still running after %s when %s; it was stopped with every process it started (raise --timeout, or log in so the plugin answers from its cache)",
			name, time.Since(started).Round(time.Millisecond), why)
	case stdout.over:
		return fmt.Errorf("the kubeconfig's exec credential plugin %s printed more than %d bytes: not an ExecCredential; it was stopped", name, maxPluginOutput)
	case err != nil:
		return fmt.Errorf("the kubeconfig's exec credential plugin %s failed: %v%s", name, err, stderrNote(stderr.String()))
	}
	return applyExecCredential(rc, name, stdout.Bytes())
}

// execInfo is the ExecCredential the plugin reads from KUBERNETES_EXEC_INFO:
// never interactive, with the cluster when the kubeconfig asks for it.
func execInfo(ctx context.Context, rc *rest.Config) ([]byte, error) {
	type cluster struct {
		Server                   string `json:"server"`
		TLSServerName            string `json:"tls-server-name,omitempty"`
		InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify,omitempty"`
		CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
	}
	spec := map[string]any{"interactive": false}
	if rc.ExecProvider.ProvideClusterInfo {
		ca := rc.CAData
		if len(ca) == 0 && rc.CAFile != "" {
			b, err := localfile.Read(ctx, rc.CAFile, localfile.CABundle)
			if err != nil {
				return nil, fmt.Errorf("the kubeconfig's certificate-authority for the exec plugin: %w", err)
			}
			ca = b
		}
		spec["cluster"] = cluster{Server: rc.Host, TLSServerName: rc.ServerName, InsecureSkipTLSVerify: rc.Insecure, CertificateAuthorityData: ca}
	}
	return json.Marshal(map[string]any{"apiVersion": rc.ExecProvider.APIVersion, "kind": "ExecCredential", "spec": spec})
}

// applyExecCredential checks the plugin's answer as client-go does and puts
// the token or certificate into rc.
func applyExecCredential(rc *rest.Config, name string, out []byte) error {
	var cred struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Status     *struct {
			Token                 string `json:"token"`
			ClientCertificateData string `json:"clientCertificateData"`
			ClientKeyData         string `json:"clientKeyData"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &cred); err != nil {
		return fmt.Errorf("the kubeconfig's exec credential plugin %s printed no ExecCredential: %v", name, err)
	}
	switch {
	case cred.APIVersion != rc.ExecProvider.APIVersion:
		return fmt.Errorf("the kubeconfig's exec credential plugin %s answered apiVersion %q; the kubeconfig asks for %q", name, cred.APIVersion, rc.ExecProvider.APIVersion)
	case cred.Status == nil:
		return fmt.Errorf("the kubeconfig's exec credential plugin %s returned no status", name)
	case cred.Status.Token == "" && cred.Status.ClientCertificateData == "" && cred.Status.ClientKeyData == "":
		return fmt.Errorf("the kubeconfig's exec credential plugin %s returned neither a token nor a certificate and key", name)
	case (cred.Status.ClientCertificateData == "") != (cred.Status.ClientKeyData == ""):
		return fmt.Errorf("the kubeconfig's exec credential plugin %s returned a certificate or a key, not both", name)
	}
	rc.ExecProvider = nil
	rc.BearerToken, rc.BearerTokenFile = cred.Status.Token, ""
	if cred.Status.ClientCertificateData != "" {
		rc.CertData, rc.KeyData = []byte(cred.Status.ClientCertificateData), []byte(cred.Status.ClientKeyData)
		rc.CertFile, rc.KeyFile = "", ""
	}
	return nil
}

// killGroup ends a plugin's process group; a group already gone is fine.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

func stderrNote(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	// A plugin's stderr may hold anything: masked, then shortened.
	return " (stderr: " + (*redact.Redactor)(nil).Cut(strings.Join(strings.Fields(s), " "), 300) + ")"
}

// capped is a buffer that keeps at most max bytes, notes the rest, and calls
// onOver (once) when it overflows. It does not embed bytes.Buffer: io.Copy
// would find Buffer's ReadFrom and read past the cap.
type capped struct {
	buf    bytes.Buffer
	max    int
	over   bool
	onOver func()
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		if !c.over && c.onOver != nil {
			c.onOver()
		}
		c.over = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) Bytes() []byte  { return c.buf.Bytes() }
func (c *capped) String() string { return c.buf.String() }
