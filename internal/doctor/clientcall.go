package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/localfile"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// ClientCallVersion is the version of the --client-config document.
const ClientCallVersion = "1"

// ClientCall is a kfp.Client call described as data: the keyword arguments
// of kfp.Client, as the Python package (kfp_doctor.diagnose) reads them back
// from a live client or takes them as keywords. --client-config reads it from
// a file or from stdin ("-"), so that no secret is ever on a command line.
// Every field is one of kfp.Client's arguments and maps to the flag that
// spells the same argument (clientCallConfig); what kfp.Client reads from its
// environment (KF_PIPELINES_*, ~/.config/kfp/context.json, the pod's files)
// the doctor reads from its own, as for flags.
type ClientCall struct {
	SchemaVersion string `json:"schema_version"`
	// Source says how the call was described ("kfp.Client object",
	// "kfp_doctor.diagnose keywords"): the report names it as the origin
	// of the arguments.
	Source string `json:"source,omitempty"`
	// Host is host=; "" (or absent) is kfp.Client's own default: in a pod
	// the API server's Service, outside the kube-apiserver's service proxy.
	Host string `json:"host,omitempty"`
	// Namespace is namespace= ("" and "kubeflow" count as none, as in the SDK).
	Namespace string `json:"namespace,omitempty"`
	// ExistingToken is existing_token= (a secret), or the token a custom
	// credentials= object's refresh_api_key_hook gave; TokenSource names
	// which ("existing_token=" when empty).
	ExistingToken string `json:"existing_token,omitempty"`
	TokenSource   string `json:"token_source,omitempty"`
	// Credentials is credentials=kfp.client.ServiceAccountTokenVolumeCredentials(path=Path);
	// an empty Path is the class's own default ($KF_PIPELINES_SA_TOKEN_PATH, then the SDK's path).
	Credentials *VolumeCredentials `json:"credentials,omitempty"`
	// Cookies is cookies= (a secret).
	Cookies string `json:"cookies,omitempty"`
	// SSLCACert is ssl_ca_cert=; VerifySSL is verify_ssl= (false skips verification).
	SSLCACert string `json:"ssl_ca_cert,omitempty"`
	VerifySSL *bool  `json:"verify_ssl,omitempty"`
	// KubeContext is kube_context=: the kubeconfig context of a no-host call outside a pod.
	KubeContext string `json:"kube_context,omitempty"`
}

// VolumeCredentials is ServiceAccountTokenVolumeCredentials(path=Path).
type VolumeCredentials struct {
	Path string `json:"path,omitempty"`
}

// callFlags names the flags that spell a kfp.Client argument (or stand in
// for one, like the login that gets cookies=): a --client-config describes
// the whole call, so none of them may come with it.
func (cfg Config) callFlags() []string {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"--host", cfg.Host != ""}, {"--namespace", cfg.Namespace != ""}, {"--token-path", cfg.TokenPath != ""},
		{"--volume-credentials", cfg.VolumeCredentials}, {"--token-file", cfg.TokenFile != ""}, {"--cookies", cfg.Cookies != ""},
		{"--ca-cert", cfg.CACert != ""}, {"--insecure-skip-tls-verify", cfg.InsecureSkipVerify}, {"--sdk-default-host", cfg.SDKDefaultHost},
		{"--context", cfg.KubeContext != ""}, {"--username", cfg.Username != ""}, {"--password-stdin", cfg.PasswordStdin},
	} {
		if f.on {
			set = append(set, f.name)
		}
	}
	return set
}

// withClientCall is the configuration with --client-config's call in place
// of the call flags: each argument of the described kfp.Client goes where
// its flag would put it, so the plan resolves it exactly as it resolves the
// flags. cfg is returned as it was without --client-config. The document's
// secrets are registered with red before anything can quote them.
func withClientCall(ctx context.Context, cfg Config, s Seams, d Deadlines, red *redact.Redactor) (Config, error) {
	if cfg.ClientConfig == "" {
		return cfg, nil
	}
	if set := cfg.callFlags(); len(set) > 0 {
		return cfg, usage("--client-config describes the whole kfp.Client call: drop %s", strings.Join(set, ", "))
	}
	call, err := readClientCall(ctx, cfg.ClientConfig, s.Stdin, d, red)
	if err != nil {
		return cfg, err
	}
	return clientCallConfig(cfg, call), nil
}

// clientCallConfig maps the call's arguments onto the flags that spell
// them (the table of docs/doctor.md: host= is --host, existing_token= is
// --token-file's token, …). It returns a new Config; base is read only.
func clientCallConfig(base Config, c *ClientCall) Config {
	out := base
	out.Host = c.Host
	out.Namespace = c.Namespace
	out.ClientSource = c.Source
	if out.ClientSource == "" {
		out.ClientSource = "a kfp.Client call"
	}
	out.Token, out.TokenSource = c.ExistingToken, c.TokenSource
	if out.Token != "" && out.TokenSource == "" {
		out.TokenSource = "existing_token="
	}
	if c.Credentials != nil {
		out.TokenPath = c.Credentials.Path
		out.VolumeCredentials = c.Credentials.Path == ""
	}
	out.Cookies = c.Cookies
	out.CACert = c.SSLCACert
	out.InsecureSkipVerify = c.VerifySSL != nil && !*c.VerifySSL
	out.KubeContext = c.KubeContext
	// kfp.Client with no host outside a pod goes through the kube-apiserver's
	// service proxy: that is the call described, not the doctor's own
	// port-forward (in a pod this changes nothing: the Service is the default).
	out.SDKDefaultHost = c.Host == ""
	return out
}

// readClientCall reads and checks the document: from stdin for "-" (one
// line, as the Python package writes it, before the run's deadline), else
// from the file through the bounded reader.
func readClientCall(ctx context.Context, from string, stdin io.Reader, d Deadlines, red *redact.Redactor) (*ClientCall, error) {
	var b []byte
	if from == "-" {
		rctx, cancel := context.WithTimeout(ctx, d.PasswordRead)
		defer cancel()
		line, err := localfile.ReadFirstLine(rctx, stdin, int(localfile.ClientConfig.Max()), "--client-config -")
		if err != nil {
			return nil, usage("%w", err)
		}
		b = []byte(line)
	} else {
		var err error
		if b, err = localfile.Read(ctx, from, localfile.ClientConfig); err != nil {
			return nil, usage("--client-config: %w", err)
		}
	}
	return parseClientCall(b, red)
}

// parseClientCall decodes a document strictly (an unknown key is a
// misspelt argument, not one to ignore) and registers its secrets first,
// so that no error below can quote them.
func parseClientCall(b []byte, red *redact.Redactor) (*ClientCall, error) {
	var loose map[string]any
	if err := json.Unmarshal(b, &loose); err != nil {
		return nil, usage("--client-config: not a JSON object: %s", redact.Shapes(err.Error()))
	}
	for _, k := range []string{"existing_token", "cookies"} {
		if v, ok := loose[k].(string); ok {
			if k == "cookies" {
				red.AddCookies(v)
			}
			red.Add(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "Bearer ")))
		}
	}
	var c ClientCall
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, usage("--client-config: %q must be a %s", te.Field, te.Type)
		}
		return nil, usage("--client-config: %s (the keys are kfp.Client's arguments: host, namespace, existing_token, credentials, cookies, ssl_ca_cert, verify_ssl, kube_context)", red.String(err.Error()))
	}
	if c.SchemaVersion != ClientCallVersion {
		return nil, usage("--client-config: schema_version %q, this doctor reads %q (use the kfp-doctor binary of the same kfp-doctor package)", c.SchemaVersion, ClientCallVersion)
	}
	if c.ExistingToken != "" && c.Credentials != nil {
		return nil, usage("--client-config: existing_token and credentials both name a token; kfp.Client uses existing_token and ignores credentials: pass one")
	}
	return &c, nil
}
