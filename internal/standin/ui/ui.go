// Package ui is a stand-in for KFP's UI server (ml-pipeline-ui, container
// port 3000) as clients see it: its own healthz, the refusals of internal
// endpoints, and the proxy of /apis/v1beta1 and /apis/v2beta1 (also under
// /pipeline) to the API server, headers passed through.
package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Config is what the real UI server reads from its pod's environment, plus
// how to reach the API server from wherever the stand-in runs.
type Config struct {
	// APIServerURL is the API server's base URL.
	APIServerURL string
	// Transport reaches it; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// FrontendTag is reported as frontendTagName.
	FrontendTag string
}

const (
	defaultAPIServerURL = "http://ml-pipeline:8888"
	unknown             = "unknown"
	// basePath is where Kubeflow's gateway mounts the UI.
	basePath = "/pipeline"
	// The real UI gives the API server's healthz 1 s (AbortSignal.timeout).
	healthzTimeout = time.Second
	// The real proxy has no deadline; ours bounds a hung API server.
	proxyTimeout = 2 * time.Minute
	// Caps on what passes through the proxy: pipeline packages are the
	// largest legitimate bodies, well under these.
	maxRequestBody  = 32 << 20
	maxResponseBody = 64 << 20
	maxHealthzBody  = 64 << 10
)

// ConfigFromEnv reads the Service environment the kubelet injects for the
// ml-pipeline Service (ML_PIPELINE_SERVICE_HOST/PORT).
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	cfg := Config{APIServerURL: defaultAPIServerURL, FrontendTag: unknown}
	host, okHost := lookup("ML_PIPELINE_SERVICE_HOST")
	port, okPort := lookup("ML_PIPELINE_SERVICE_PORT")
	if okHost && host != "" {
		if !okPort || port == "" {
			port = "8888"
		}
		cfg.APIServerURL = "http://" + net.JoinHostPort(host, port)
	}
	return cfg
}

type server struct {
	api       *url.URL
	transport http.RoundTripper
	tag       string
	proxy     *httputil.ReverseProxy
}

// New returns the UI server's handler. An unparsable APIServerURL falls back
// to the default, so the handler still answers (its healthz then reports the
// API server as not ready, as the real one would).
func New(cfg Config) http.Handler {
	if cfg.APIServerURL == "" {
		cfg.APIServerURL = defaultAPIServerURL
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.FrontendTag == "" {
		cfg.FrontendTag = unknown
	}
	api, err := url.Parse(strings.TrimSuffix(cfg.APIServerURL, "/"))
	if err != nil || api.Host == "" {
		api, _ = url.Parse(defaultAPIServerURL)
	}
	s := &server{api: api, transport: cfg.Transport, tag: cfg.FrontendTag}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// changeOrigin: the API server sees its own host; no
			// X-Forwarded-* (http-proxy-middleware adds none by default).
			pr.SetURL(s.api)
			// The path as the client encoded it, /pipeline stripped.
			escaped := strings.TrimPrefix(pr.In.URL.EscapedPath(), basePath)
			if p, err := url.PathUnescape(escaped); err == nil {
				pr.Out.URL.Path, pr.Out.URL.RawPath = s.api.Path+p, s.api.EscapedPath()+escaped
			}
		},
		Transport: cfg.Transport,
		ModifyResponse: func(resp *http.Response) error {
			resp.Body = limitedBody{io.LimitReader(resp.Body, maxResponseBody), resp.Body}
			return nil
		},
		ErrorHandler: proxyError,
	}
	return s
}

type limitedBody struct {
	io.Reader
	io.Closer
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	rel := strings.TrimPrefix(p, basePath)
	prefixed := rel != p
	if prefixed && rel == "" {
		rel = "/"
	}
	switch {
	case r.Method == http.MethodGet && (rel == "/apis/v1beta1/healthz" || rel == "/apis/v2beta1/healthz"):
		s.healthz(w, r, strings.TrimSuffix(rel, "/healthz"))
	case refused(rel):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "%s endpoint is not meant for external usage.", r.URL.RequestURI())
	case strings.HasPrefix(rel, "/apis/v1beta1/") || strings.HasPrefix(rel, "/apis/v2beta1/"):
		ctx, cancel := context.WithTimeout(r.Context(), proxyTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		s.proxy.ServeHTTP(w, r)
	case r.Method == http.MethodGet && (rel == "/" || rel == "/index.html"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, indexHTML)
	default:
		notFound(w, r)
	}
}

// refused are the endpoints the real server answers 403 itself (Express
// app.use: the path and anything below it; routes are case-insensitive).
func refused(rel string) bool {
	l := strings.ToLower(rel)
	for _, p := range []string{"/apis/v1beta1/workflows", "/apis/v1beta1/scheduledworkflows",
		"/apis/v2beta1/workflows", "/apis/v2beta1/scheduledworkflows"} {
		if l == p || strings.HasPrefix(l, p+"/") {
			return true
		}
	}
	// '/apis/v1beta1/runs/*reportMetrics': the API's /runs/{id}:reportMetrics.
	if rest, ok := strings.CutPrefix(l, "/apis/v1beta1/runs/"); ok {
		if i := strings.Index(rest, "reportmetrics"); i >= 0 {
			end := rest[i+len("reportmetrics"):]
			return end == "" || strings.HasPrefix(end, "/")
		}
	}
	return false
}

// healthz is the UI's own health: always 200; the API server's build info
// and mode when its healthz answers within a second, apiServerReady false
// (and no API server fields) when it does not.
func (s *server) healthz(w http.ResponseWriter, r *http.Request, version string) {
	out := map[string]any{"buildDate": "", "frontendCommitHash": "", "frontendTagName": s.tag}
	ready := false
	if st, err := s.apiHealth(r.Context(), version); err == nil {
		for from, to := range map[string]string{
			"commit_sha": "apiServerCommitHash", "tag_name": "apiServerTagName",
			"multi_user": "apiServerMultiUser", "pipeline_store": "pipelineStore",
		} {
			if v, ok := st[from]; ok {
				out[to] = v
			}
		}
		if v, ok := st["multi_user"]; ok {
			out["multi_user"] = v
		}
		ready = true
	}
	out["apiServerReady"] = ready
	body, _ := json.Marshal(out) // a map of JSON values always marshals
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *server) apiHealth(ctx context.Context, version string) (map[string]json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, healthzTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api.String()+version+"/healthz", nil)
	if err != nil {
		return nil, fmt.Errorf("building the API server healthz request: %w", err)
	}
	resp, err := (&http.Client{Transport: s.transport}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("API server healthz: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("API server healthz returned HTTP %d", resp.StatusCode)
	}
	var st map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxHealthzBody)).Decode(&st); err != nil {
		return nil, fmt.Errorf("API server healthz body: %w", err)
	}
	return st, nil
}

// proxyError answers as http-proxy-middleware's default handler: 504 when
// the API server cannot be reached, 500 otherwise, with its (misspelt) text.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var ne net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &dnsErr),
		errors.As(err, &ne) && ne.Timeout(), isReset(err):
		status = http.StatusGatewayTimeout
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "Error occured while trying to proxy to: %s%s", r.Host, r.URL.RequestURI())
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// notFound is Express's final handler for a route nothing served.
func notFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot %s %s</pre>\n</body>\n</html>\n",
		html.EscapeString(r.Method), html.EscapeString(r.URL.EscapedPath()))
}

// indexHTML stands in for the single-page app: enough for a client to see
// it reached the UI and not an API.
const indexHTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kubeflow Pipelines</title></head><body><div id="root"></div></body></html>
`
