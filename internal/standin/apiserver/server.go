package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
)

// maxBody bounds JSON request bodies: an experiment or a run is a few KiB.
const maxBody = 1 << 20

// The single-user Default experiment, as KFP creates it at start.
const (
	defaultExperimentName        = "Default"
	defaultExperimentDescription = "All runs created without specifying an experiment will be grouped here."
)

// Server is the API server stand-in. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	cfg                 Config
	kube                kubernetes.Interface
	reviewTimeout       time.Duration
	store               *store
	schemas             schemas
	routes              []route
	now                 func() time.Time
	newID               func() string
	workflows           workflowCreator
	defaultExperimentID string
}

// Option changes how a Server makes what is not the client's to choose.
type Option func(*Server)

// WithClock sets the clock that stamps created_at (default time.Now).
// Replays of recordings use it to reproduce the recorded times, which
// decide list order.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithIDs sets the source of new object ids (default random UUIDs).
func WithIDs(next func() string) Option { return func(s *Server) { s.newID = next } }

// New returns a server configured as KFP would be from its pod's env. kube
// acts as the API server's own ServiceAccount: it needs create on
// tokenreviews and subjectaccessreviews in multi-user mode, and is unused in
// single-user mode (it may be nil there).
func New(cfg Config, kube kubernetes.Interface, opts ...Option) *Server {
	sch, err := newSchemas()
	if err != nil {
		// The schemas are constants of this package: only a bug gets here,
		// and every test of the package would show it.
		panic(fmt.Sprintf("apiserver stand-in: %v", err))
	}
	s := &Server{cfg: cfg.withDefaults(), kube: kube, reviewTimeout: defaultReviewTimeout, store: newStore(),
		schemas: sch, now: time.Now, newID: newUUID}
	for _, o := range opts {
		o(s)
	}
	s.workflows = kubeWorkflows{kube}
	s.routes = s.routeTable()
	if !s.cfg.MultiUser {
		s.defaultExperimentID = s.newID()
		s.store.addExperiment(experiment{
			id: s.defaultExperimentID, name: defaultExperimentName, description: defaultExperimentDescription,
			storageState: stateAvailable, created: s.now(),
		})
	}
	return s
}

// handler serves one route; params are the path's {…} segments in order.
type handler func(w http.ResponseWriter, r *http.Request, params []string)

// route is one method of a path pattern, as grpc-gateway registers them:
// "{}" stands for one segment, "{}:verb" for a segment ending in :verb.
type route struct {
	method  string
	pattern string
	handle  handler
}

// anyMethod marks a route served whatever the method, as KFP's plain
// handlers (healthz, upload) are.
const anyMethod = "*"

func (s *Server) routeTable() []route {
	const v1, v2 = "/apis/v1beta1", "/apis/v2beta1"
	get, post, del := http.MethodGet, http.MethodPost, http.MethodDelete
	return []route{
		{anyMethod, v1 + "/healthz", s.healthz(false)},
		{anyMethod, v2 + "/healthz", s.healthz(true)},

		{get, v2 + "/experiments", s.listV2},
		{post, v2 + "/experiments", s.createV2},
		{get, v2 + "/experiments/{}", s.getExperiment(expV2)},
		{del, v2 + "/experiments/{}", s.deleteExperiment(expV2)},
		{post, v2 + "/experiments/{}:archive", s.setStorageState(expV2, true)},
		{post, v2 + "/experiments/{}:unarchive", s.setStorageState(expV2, false)},
		{get, v1 + "/experiments", s.listV1},
		{post, v1 + "/experiments", s.createV1},
		{get, v1 + "/experiments/{}", s.getExperiment(expV1)},
		{del, v1 + "/experiments/{}", s.deleteExperiment(expV1)},
		{post, v1 + "/experiments/{}:archive", s.setStorageState(expV1, true)},
		{post, v1 + "/experiments/{}:unarchive", s.setStorageState(expV1, false)},

		// KFP registers upload on its top router, before grpc-gateway and
		// without a method.
		{anyMethod, v2 + "/pipelines/upload", s.uploadPipeline},
		{get, v2 + "/pipelines", s.listPipelinesV2},
		{get, v2 + "/pipelines/{}", s.getPipelineV2},
		{del, v2 + "/pipelines/{}", s.deletePipeline},
		{get, v2 + "/pipelines/{}/versions", s.listVersions},
		{get, v2 + "/pipelines/{}/versions/{}", s.getVersion},
		{get, v1 + "/pipelines", s.listPipelinesV1},
		{get, v1 + "/pipelines/{}", s.getPipelineV1},

		{get, v2 + "/runs", s.listRuns(runV2)},
		{post, v2 + "/runs", s.createRun},
		{get, v2 + "/runs/{}", s.getRun(runV2)},
		{get, v1 + "/runs", s.listRuns(runV1)},
		{get, v1 + "/runs/{}", s.getRun(runV1)},
		{get, v2 + "/recurringruns", s.listRecurringRuns},
	}
}

// match reports whether path fits pattern, and the segments it captured.
func match(pattern, path string) ([]string, bool) {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var params []string
	for i, p := range ps {
		switch {
		case p == "{}":
			if xs[i] == "" {
				return nil, false
			}
			params = append(params, xs[i])
		case strings.HasPrefix(p, "{}:"):
			id, ok := strings.CutSuffix(xs[i], p[2:])
			if !ok || id == "" {
				return nil, false
			}
			params = append(params, id)
		case p != xs[i]:
			return nil, false
		}
	}
	return params, true
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	known := false
	for _, rt := range s.routes {
		params, ok := match(rt.pattern, r.URL.Path)
		if !ok {
			continue
		}
		if rt.method == r.Method || rt.method == anyMethod {
			rt.handle(w, r, params)
			return
		}
		known = true
	}
	switch {
	case known:
		// grpc-gateway v2 answers a known path with another method this way.
		writeGatewayError(w, codeUnimplemented, http.StatusText(http.StatusMethodNotAllowed))
	case strings.HasPrefix(r.URL.Path, "/apis/"):
		writeGatewayError(w, codeNotFound, "Not Found")
	default:
		// KFP's top router hands only /apis/ to grpc-gateway; the rest is
		// gorilla/mux's plain-text 404.
		http.NotFound(w, r)
	}
}

func (s *Server) healthz(v2 bool) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ []string) {
		// KFP writes these by hand, not through the proto marshaler: every
		// field is present, multi_user false included; pipeline_store is
		// v2beta1's only.
		body := struct {
			CommitSHA     string `json:"commit_sha"`
			TagName       string `json:"tag_name"`
			MultiUser     bool   `json:"multi_user"`
			PipelineStore string `json:"pipeline_store,omitempty"`
		}{CommitSHA: s.cfg.CommitSHA, TagName: s.cfg.TagName, MultiUser: s.cfg.MultiUser}
		if v2 {
			body.PipelineStore = "database"
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// access is KFP's ResourceManager.IsAuthorized for one resource of group
// pipelines.kubeflow.org: TokenReview, then SubjectAccessReview.
func (s *Server) access(r *http.Request, resource, namespace, verb, name string) *userError {
	attrs := kfpauthz.Attributes(namespace, verb, resource, name)
	if s.kube == nil {
		return internalError("no client for the kube-apiserver", fmt.Sprintf("Failed to create SubjectAccessReview for user '' (request: %+v)", attrs))
	}
	return s.authorize(r.Context(), r, attrs)
}

// readBody reads a bounded request body; an oversized one is refused as
// grpc-gateway refuses what it cannot read.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeGatewayError(w, codeInvalidArgument, fmt.Sprintf("request body over %d bytes", maxBody))
			return nil, false
		}
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return nil, false
	}
	return body, true
}
