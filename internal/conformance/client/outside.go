package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// fromOutside runs the doctor of an out-of-cluster path: through a
// port-forward to the path's Service, with a token minted by TokenRequest,
// a login through the gateway, or a session's cookies; with sdk, the real
// kfp.Client beside it, given the same host, token file, cookies, namespace
// and context.json.
func fromOutside(ctx context.Context, e *env.Env, c scenarios.Client, workdir string, step Step, sdk *sdkrun.Driver) (*Result, error) {
	call := newCall(c)
	home := ""
	getenv := map[string]string{}
	if c.ContextFile != nil {
		home = filepath.Join(workdir, "home")
		if err := writeFiles(filepath.Join(home, ".config", "kfp"), map[string]string{"context.json": contextJSON(c.ContextFile)}); err != nil {
			return nil, err
		}
		getenv["HOME"] = home
		step("~/.config/kfp/context.json holds %v (fault)", redactedKeys(c.ContextFile))
	}
	dialer, err := svcdial.New(e.Config, kubeflow.Namespace)
	if err != nil {
		return nil, err
	}
	defer dialer.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ns := c.PortForward.Namespace
	if ns == "" {
		ns = kubeflow.Namespace
	}
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dialer.Forward(fctx, ln, fmt.Sprintf("%s.%s:%d", c.PortForward.Service, ns, c.PortForward.Port))
	}()
	defer func() { stop(); <-done }()
	local := "http://" + ln.Addr().String()
	step("port-forward -n %s svc/%s %s:%d", ns, c.PortForward.Service, ln.Addr(), c.PortForward.Port)
	if c.Session != nil {
		if err := sessionCookies(ctx, c, local, call, step); err != nil {
			return nil, err
		}
	}
	if c.Login != nil {
		call.Username, call.LoginConnector = c.Login.Username, c.Login.Connector
		getenv[doctor.EnvPassword] = c.Login.Password
		step("log in through Dex as %s (connector %q)", c.Login.Username, c.Login.Connector)
	}
	call.Getenv = func(k string) string { return getenv[k] }
	call.Host = local
	if c.Port != 0 {
		call.Host = withPort(call.Host, c.Port)
	}
	call.Host += c.Host
	if c.Host == "" && c.PortForward != nil {
		step("host %s: the port-forward's root", call.Host)
	}
	call.CheckWrite = c.CheckWrite
	if c.Token.Kind == scenarios.MintedToken {
		file, err := mintedToken(ctx, e, c.Token, workdir, step)
		if err != nil {
			return nil, err
		}
		call.TokenFile = file
	}
	if c.Login != nil {
		// The doctor logs in itself (--username); a user of the SDK logs in
		// and passes the cookies, which the session paths run.
		res, err := runWithSDK(ctx, call, nil, step, "", nil)
		if res != nil && sdk != nil {
			res.SDKNotRun = "the doctor's own login (--username): the SDK takes a session's cookies, run on the session paths"
		}
		return res, err
	}
	return runWithSDK(ctx, call, sdk, step, "as the same client", func() (sdkrun.Case, func(), error) {
		sc := sdkrun.Case{Host: call.Host, Namespace: c.Namespace, ExistingTokenFile: call.TokenFile, Cookies: call.Cookies,
			Write: c.CheckWrite, Env: map[string]string{"HOME": home}}
		if home == "" {
			// Its own empty HOME: no context.json of the machine's user.
			sc.Env["HOME"] = filepath.Join(workdir, "sdk-home")
		}
		return sc, func() {}, nil
	})
}

// mintedToken writes the path's token, `kubectl create token` as the path
// says or signed by a foreign issuer, to a file the doctor reads.
func mintedToken(ctx context.Context, e *env.Env, t scenarios.Token, workdir string, step Step) (string, error) {
	ns, name, _ := strings.Cut(t.ServiceAccount, "/")
	var tok string
	var err error
	if t.Issuer != "" {
		// Shaped like the cluster's tokens, but from an issuer (and a
		// key) the cluster's gateway knows nothing of.
		tok, err = jwttest.Mint(jwttest.Token{Namespace: ns, ServiceAccount: name, Audience: audiences(t.Audience),
			Expires: time.Now().Add(time.Hour), Extra: map[string]any{"iss": t.Issuer}})
		step("token for %s signed by another key, issuer %s (fault)", t.ServiceAccount, t.Issuer)
	} else {
		tok, err = mint(ctx, e.Client, ns, name, t.Audience)
		step("token minted for %s, audience %q", t.ServiceAccount, t.Audience)
	}
	if err != nil {
		return "", err
	}
	file := filepath.Join(workdir, "token-"+ns+"-"+name)
	if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
		return "", err
	}
	return file, nil
}

// redactedKeys is a context.json's keys with the values of header keys
// hidden, for the case's log.
func redactedKeys(keys map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range keys {
		if strings.HasSuffix(k, "_value") {
			v = "…"
		}
		out[k] = v
	}
	return out
}

// viaServiceProxy runs the doctor of kfp.Client() with no host outside a
// pod: the kubeconfig's server and credentials, and the kube-apiserver's
// service proxy to ml-pipeline (the doctor's --sdk-default-host). Only
// where pods are real: on kwok the apiserver would dial a pod IP that is on
// no machine, so the case is refused rather than sent off the machine.
//
// With sdk, the real kfp.Client() then runs with the same kubeconfig as its
// KUBECONFIG, as the user's ~/.kube/config.
func viaServiceProxy(ctx context.Context, e *env.Env, c scenarios.Client, workdir string, step Step, sdk *sdkrun.Driver) (*Result, error) {
	if !e.RealPods {
		return nil, fmt.Errorf("path %s goes through the kube-apiserver's service proxy, which dials a pod IP: it needs a provider with real pod networking (node, kind), not kwok", c.Name)
	}
	if c.ContextFile != nil || c.Port != 0 || c.Host != "" {
		return nil, fmt.Errorf("path %s: the client faults that change a host or the SDK's context file do not apply to kfp.Client() with no host", c.Name)
	}
	call := newCall(c)
	file := filepath.Join(workdir, "kubeconfig")
	if err := writeKubeconfig(e.Config, file); err != nil {
		return nil, err
	}
	call.Kubeconfig, call.SDKDefaultHost = file, true
	step("kfp.Client() with no host: the kubeconfig's server + the service proxy to %s/%s", kubeflow.Namespace, kubeflow.APIServer)
	return runWithSDK(ctx, call, sdk, step, "() with the same kubeconfig", func() (sdkrun.Case, func(), error) {
		return sdkrun.Case{Namespace: c.Namespace, Write: call.CheckWrite,
			Env: map[string]string{"HOME": filepath.Join(workdir, "sdk-home"), "KUBECONFIG": file}}, func() {}, nil
	})
}

// writeKubeconfig writes cfg as a kubeconfig file (mode 0600: it holds
// credentials), as a user's ~/.kube/config would hold them.
func writeKubeconfig(cfg *rest.Config, file string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify: cfg.Insecure, TLSServerName: cfg.ServerName}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificate: cfg.CertFile, ClientCertificateData: cfg.CertData,
		ClientKey: cfg.KeyFile, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, TokenFile: cfg.BearerTokenFile}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		return fmt.Errorf("writing the client's kubeconfig: %w", err)
	}
	return os.Chmod(file, 0o600)
}
