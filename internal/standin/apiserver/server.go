package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
)

// Paths the stand-in serves; everything else is grpc-gateway's 404.
const (
	pathHealthzV1     = "/apis/v1beta1/healthz"
	pathHealthzV2     = "/apis/v2beta1/healthz"
	pathExperimentsV1 = "/apis/v1beta1/experiments"
	pathExperimentsV2 = "/apis/v2beta1/experiments"
)

// anyMethod marks a route served whatever the method, as KFP's plain
// healthz handlers are.
const anyMethod = "*"

// maxBody bounds request bodies: an experiment is a few hundred bytes.
const maxBody = 1 << 20

// The single-user Default experiment, as KFP creates it at start.
const (
	defaultExperimentName        = "Default"
	defaultExperimentDescription = "All runs created without specifying an experiment will be grouped here."
)

// Server is the API server stand-in. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	cfg           Config
	kube          kubernetes.Interface
	reviewTimeout time.Duration
	store         *store
	byPath        map[string][]route
}

// New returns a server configured as KFP would be from its pod's env. kube
// acts as the API server's own ServiceAccount: it needs create on
// tokenreviews and subjectaccessreviews in multi-user mode, and is unused in
// single-user mode (it may be nil there).
func New(cfg Config, kube kubernetes.Interface) *Server {
	s := &Server{cfg: cfg.withDefaults(), kube: kube, reviewTimeout: defaultReviewTimeout, store: newStore()}
	s.byPath = s.routes()
	if !s.cfg.MultiUser {
		s.store.add(experiment{
			id: newUUID(), name: defaultExperimentName, description: defaultExperimentDescription,
			created: time.Now(),
		})
	}
	return s
}

// route is one method of a path.
type route struct {
	method string
	handle http.HandlerFunc
}

func (s *Server) routes() map[string][]route {
	return map[string][]route{
		pathHealthzV1:     {{anyMethod, s.healthz(false)}},
		pathHealthzV2:     {{anyMethod, s.healthz(true)}},
		pathExperimentsV1: {{http.MethodGet, s.listV1}, {http.MethodPost, s.createV1}},
		pathExperimentsV2: {{http.MethodGet, s.listV2}, {http.MethodPost, s.createV2}},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.byPath[r.URL.Path]
	switch {
	case !ok && !strings.HasPrefix(r.URL.Path, "/apis/"):
		// KFP's top router hands only /apis/ to grpc-gateway; the rest is
		// gorilla/mux's plain-text 404.
		http.NotFound(w, r)
		return
	case !ok:
		writeGatewayError(w, codeNotFound, "Not Found")
		return
	}
	for _, rt := range rs {
		if rt.method == r.Method || rt.method == anyMethod {
			rt.handle(w, r)
			return
		}
	}
	// grpc-gateway v2 answers a known path with another method this way.
	writeGatewayError(w, codeUnimplemented, http.StatusText(http.StatusMethodNotAllowed))
}

func (s *Server) healthz(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
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

// listNamespace applies KFP's ReplaceNamespace and canAccessExperiment for a
// list: single-user mode ignores the namespace; multi-user mode rejects an
// empty one before authenticating, then authorizes "list".
func (s *Server) listNamespace(r *http.Request, namespace, failed string) (string, *userError) {
	if !s.cfg.MultiUser {
		return "", nil
	}
	if err := s.canAccess(r, namespace, verbList, ""); err != nil {
		return "", err.wrap("Failed to authorize with API").wrap(failed)
	}
	return namespace, nil
}

// canAccess is KFP's ExperimentServer.canAccessExperiment in multi-user mode.
func (s *Server) canAccess(r *http.Request, namespace, verb, name string) *userError {
	if namespace == "" || namespace == "-" {
		return invalidInput("An experiment cannot have an empty namespace in multi-user mode")
	}
	attrs := &authzv1.ResourceAttributes{
		Namespace: namespace, Verb: verb, Group: rbacGroup, Version: rbacVersion,
		Resource: rbacExperiments, Name: name,
	}
	if s.kube == nil {
		return internalError("no client for the kube-apiserver", fmt.Sprintf("Failed to create SubjectAccessReview for user '' (request: %+v)", attrs))
	}
	if err := s.authorize(r.Context(), r, attrs); err != nil {
		return err.wrap("Failed to authorize with API")
	}
	return nil
}

func (s *Server) listV2(w http.ResponseWriter, r *http.Request) {
	ns, err := s.listNamespace(r, r.URL.Query().Get("namespace"), "List experiments failed")
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newListReply(s.store.list(ns), experiment.v2))
}

func (s *Server) listV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	namespace := ""
	if typ, id := q.Get("resource_reference_key.type"), q.Get("resource_reference_key.id"); typ != "" || id != "" {
		if typ != "NAMESPACE" && typ != "5" {
			if typ == "" {
				typ = "UNKNOWN_RESOURCE_TYPE"
			}
			writeUserError(w, invalidInput(fmt.Sprintf("Failed to list v1beta1 experiment due to invalid resource reference key. It must be of type 'Namespace' and contain an existing or empty namespace, but you provided %v of type %v", id, typ)))
			return
		}
		namespace = id
	}
	ns, err := s.listNamespace(r, namespace, "List v1beta1 experiments failed")
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newListReply(s.store.list(ns), experiment.v1))
}

// decodeBody reads a bounded JSON body; a failure is grpc-gateway's 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeGatewayError(w, codeInvalidArgument, fmt.Sprintf("request body over %d bytes", maxBody))
			return false
		}
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return false
	}
	return true
}

func (s *Server) createV2(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DisplayName string `json:"display_name"`
		Description string `json:"description"`
		Namespace   string `json:"namespace"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	e, err := s.create(r, req.DisplayName, req.Description, req.Namespace, req.Namespace != "",
		"In single-user mode, CreateExperimentRequest shouldn't contain namespace.",
		"[ExperimentServer]: Failed to create a experiment due to conversion error", "Failed to create a experiment")
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e.v2())
}

func (s *Server) createV1(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name               string              `json:"name"`
		Description        string              `json:"description"`
		ResourceReferences []resourceReference `json:"resource_references"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	namespace := ""
	for _, ref := range req.ResourceReferences {
		if ref.Key != nil && ref.Key.Type == "NAMESPACE" {
			namespace = ref.Key.ID
			break
		}
	}
	e, err := s.create(r, req.Name, req.Description, namespace, len(req.ResourceReferences) > 0,
		"In single-user mode, CreateExperimentRequest shouldn't contain resource references.",
		"[ExperimentServer]: Failed to create a v1beta1 experiment due to conversion error", "Failed to create a v1beta1 experiment")
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e.v1())
}

// create is KFP's createExperiment for both API versions; the messages that
// differ between them are passed in.
func (s *Server) create(r *http.Request, name, description, namespace string, scoped bool, singleUserMsg, convertFailed, failed string) (experiment, *userError) {
	if name == "" {
		return experiment{}, internalError("Invalid input error: Experiment must have a non-empty name",
			"Failed to convert API experiment to model experiment").wrap(convertFailed)
	}
	if !s.cfg.MultiUser {
		if scoped {
			return experiment{}, invalidInput(singleUserMsg).wrap(failed)
		}
		namespace = ""
	} else if err := s.canAccess(r, namespace, verbCreate, name); err != nil {
		return experiment{}, err.wrap("Failed to authorize the request").wrap(failed)
	}
	e := experiment{id: newUUID(), name: name, description: description, namespace: namespace, created: time.Now()}
	if !s.store.add(e) {
		return experiment{}, alreadyExists(fmt.Sprintf("Failed to create a new experiment. The name %v already exists. Please specify a new name", name)).wrap(failed)
	}
	return e, nil
}
