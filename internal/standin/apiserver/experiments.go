package apiserver

import (
	"fmt"
	"net/http"
	"time"
)

// experiment is the stored form (KFP's model.Experiment); the API versions
// render it differently.
type experiment struct {
	id, name, description, namespace string
	storageState                     string // "AVAILABLE" or "ARCHIVED", as KFP stores it
	created                          time.Time
}

const (
	stateAvailable = "AVAILABLE"
	stateArchived  = "ARCHIVED"
)

// experimentSpec is model.Experiment as a list.Listable: every API key,
// either version's, maps to its column.
var experimentSpec = listSpec{typeName: "Experiment", model: "experiments", fields: map[string]string{
	"id": keyColumn, "experiment_id": keyColumn, "name": "Name", "display_name": "Name",
	"description": "Description", "created_at": createdColumn, "namespace": "Namespace",
	"storage_state": "StorageState", "last_run_created_at": "LastRunCreatedAtInSec",
}}

func (e experiment) key() string { return e.id }

func (e experiment) field(column string) (any, bool) {
	switch column {
	case keyColumn:
		return e.id, true
	case "Name":
		return e.name, true
	case "Description":
		return e.description, true
	case createdColumn:
		return e.created.Unix(), true
	case "Namespace":
		return e.namespace, true
	case "StorageState":
		return e.storageState, true
	case "LastRunCreatedAtInSec":
		return int64(0), true // no run is ever stored against one
	}
	return nil, false
}

// expAPI holds what differs between the two API versions' experiment
// handlers: the messages KFP wraps errors with, and the shapes.
type expAPI struct {
	v1                                       bool
	list, create, convert, get, del, archive string
	unarchive                                string
	render                                   func(experiment) any
}

var (
	expV2 = expAPI{
		list: "List experiments failed", create: "Failed to create a experiment",
		convert: "[ExperimentServer]: Failed to create a experiment due to conversion error",
		get:     "Failed to fetch experiment", del: "Failed to delete experiment",
		archive: "Failed to archive experiment", unarchive: "Failed to unarchive experiment",
		render: func(e experiment) any { return e.v2() },
	}
	expV1 = expAPI{
		v1: true, list: "List v1beta1 experiments failed", create: "Failed to create a v1beta1 experiment",
		convert: "[ExperimentServer]: Failed to create a v1beta1 experiment due to conversion error",
		get:     "Failed to fetch v1beta1 experiment", del: "Failed to delete v1beta1 experiment",
		// (derived) the v1 archive messages follow the v1 naming of the others.
		archive: "Failed to archive v1beta1 experiment", unarchive: "Failed to unarchive v1beta1 experiment",
		render: func(e experiment) any { return e.v1() },
	}
)

// canAccessExperiment is KFP's ExperimentServer.canAccessExperiment in
// multi-user mode: an empty namespace is refused before anyone is asked.
func (s *Server) canAccessExperiment(r *http.Request, namespace, verb, name string) *userError {
	if namespace == "" || namespace == "-" {
		return invalidInput("An experiment cannot have an empty namespace in multi-user mode")
	}
	if err := s.access(r, rbacExperiments, namespace, verb, name); err != nil {
		return err.wrap("Failed to authorize with API")
	}
	return nil
}

// listExperiments is both versions' ListExperiments: list options first
// (so a bad filter, sort or token wins even with no identity), then the
// namespace and the caller's right to list it.
func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request, api expAPI, namespace string) {
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	md := s.schemas.v2.filter
	if api.v1 {
		md = s.schemas.v1.filter
	}
	opts, uerr := lq.options(experimentSpec, md)
	if uerr != nil {
		writeUserError(w, uerr.wrap("Failed to create list options"))
		return
	}
	if !s.cfg.MultiUser {
		namespace = ""
	} else if uerr := s.canAccessExperiment(r, namespace, verbList, ""); uerr != nil {
		writeUserError(w, uerr.wrap("Failed to authorize with API").wrap(api.list))
		return
	}
	page, total, next := opts.page(s.store.experimentsIn(namespace))
	writeOK(w, newListReply("experiments", page, total, next, func(l listable) any { return api.render(l.(experiment)) }))
}

func (s *Server) listV2(w http.ResponseWriter, r *http.Request, _ []string) {
	s.listExperiments(w, r, expV2, r.URL.Query().Get("namespace"))
}

func (s *Server) listV1(w http.ResponseWriter, r *http.Request, _ []string) {
	namespace, err := v1NamespaceKey(r, "experiment")
	if err != nil {
		writeUserError(w, err)
		return
	}
	s.listExperiments(w, r, expV1, namespace)
}

// v1NamespaceKey reads v1beta1's resource_reference_key, which must name a
// namespace when given.
func v1NamespaceKey(r *http.Request, kind string) (string, *userError) {
	q := r.URL.Query()
	typ, id := q.Get("resource_reference_key.type"), q.Get("resource_reference_key.id")
	if typ == "" && id == "" {
		return "", nil
	}
	if typ != "NAMESPACE" && typ != "5" {
		if typ == "" {
			typ = "UNKNOWN_RESOURCE_TYPE"
		}
		return "", invalidInput(fmt.Sprintf("Failed to list v1beta1 %s due to invalid resource reference key. It must be of type 'Namespace' and contain an existing or empty namespace, but you provided %v of type %v", kind, id, typ))
	}
	return id, nil
}

func (s *Server) createV2(w http.ResponseWriter, r *http.Request, _ []string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	m, err := decodeGatewayBody(body, s.schemas.v2.experiment)
	if err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	s.createExperiment(w, r, expV2, getString(m, "display_name"), getString(m, "description"), getString(m, "namespace"))
}

func (s *Server) createV1(w http.ResponseWriter, r *http.Request, _ []string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	m, err := decodeGatewayBody(body, s.schemas.v1.experiment)
	if err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	namespace := ""
	if refs := getList(m, "resource_references"); refs != nil {
		for i := 0; i < refs.Len(); i++ {
			if key := getMessage(refs.Get(i).Message(), "key"); key != nil && enumName(key, "type") == "NAMESPACE" {
				namespace = getString(key, "id")
				break
			}
		}
	}
	s.createExperiment(w, r, expV1, getString(m, "name"), getString(m, "description"), namespace)
}

// createExperiment is KFP's CreateExperiment for both versions. In
// single-user mode 2.17.0 accepts a namespace and drops it (recorded; the
// older "shouldn't contain resource references" refusal is gone).
func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request, api expAPI, name, description, namespace string) {
	if name == "" {
		writeUserError(w, internalError("Invalid input error: Experiment must have a non-empty name",
			"Failed to convert API experiment to model experiment").wrap(api.convert))
		return
	}
	if !s.cfg.MultiUser {
		namespace = ""
	} else if err := s.canAccessExperiment(r, namespace, verbCreate, name); err != nil {
		writeUserError(w, err.wrap("Failed to authorize the request").wrap(api.create))
		return
	}
	e := experiment{id: s.newID(), name: name, description: description, namespace: namespace,
		storageState: stateAvailable, created: s.now()}
	if !s.store.addExperiment(e) {
		writeUserError(w, alreadyExists(fmt.Sprintf("Failed to create a new experiment. The name %v already exists. Please specify a new name", name)).wrap(api.create))
		return
	}
	writeOK(w, api.render(e))
}

// experimentByID is how KFP's handlers of one experiment start: the lookup
// comes first (a missing id is 404 even with no identity), then, in
// multi-user mode, the caller's right to verb it in its namespace.
// notFoundWrap is the single-user wrapping of a failed lookup.
func (s *Server) experimentByID(r *http.Request, id, verb, notFoundWrap string) (experiment, *userError) {
	e, ok := s.store.experiment(id)
	if !s.cfg.MultiUser {
		if !ok {
			err := notFound(fmt.Sprintf("Experiment %s not found", id))
			if notFoundWrap != "" {
				err = err.wrap(notFoundWrap)
			}
			return experiment{}, err
		}
		return e, nil
	}
	if !ok {
		return experiment{}, notFound(fmt.Sprintf("Experiment %s not found", id)).
			wrap("Failed to authorize with the experiment ID").wrap("Failed to authorize the request")
	}
	if err := s.canAccessExperiment(r, e.namespace, verb, e.name); err != nil {
		return experiment{}, err.wrap("Failed to authorize the request")
	}
	return e, nil
}

func (s *Server) getExperiment(api expAPI) handler {
	return func(w http.ResponseWriter, r *http.Request, p []string) {
		e, err := s.experimentByID(r, p[0], verbGet, "")
		if err != nil {
			writeUserError(w, err.wrap(api.get))
			return
		}
		writeOK(w, api.render(e))
	}
}

func (s *Server) deleteExperiment(api expAPI) handler {
	return func(w http.ResponseWriter, r *http.Request, p []string) {
		id := p[0]
		if !s.cfg.MultiUser && id == s.defaultExperimentID {
			writeUserError(w, badRequest(fmt.Sprintf("Invalid input error: Experiment id cannot be equal to the default id %s", id),
				fmt.Sprintf("Failed to delete experiment %s. The default experiment cannot be deleted", id)).wrap(api.del))
			return
		}
		if _, err := s.experimentByID(r, id, verbDelete, fmt.Sprintf("Failed to delete experiment %s due to error fetching it", id)); err != nil {
			writeUserError(w, err.wrap(api.del))
			return
		}
		s.store.deleteExperiment(id)
		writeOK(w, empty{})
	}
}

// setStorageState serves :archive and :unarchive; archiving twice is fine.
func (s *Server) setStorageState(api expAPI, archive bool) handler {
	verb, state, msg := verbUnarchive, stateAvailable, api.unarchive
	if archive {
		verb, state, msg = verbArchive, stateArchived, api.archive
	}
	return func(w http.ResponseWriter, r *http.Request, p []string) {
		if _, err := s.experimentByID(r, p[0], verb, ""); err != nil {
			writeUserError(w, err.wrap(msg))
			return
		}
		s.store.setExperimentState(p[0], state)
		writeOK(w, empty{})
	}
}

// Proto JSON renderings (UseProtoNames, unset fields left out). KFP keeps
// times in whole seconds and never sets last_run_created_at before a run,
// so it reads as the epoch.

type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Truncate(time.Second).Format(time.RFC3339) + `"`), nil
}

type experimentV2 struct {
	ExperimentID     string    `json:"experiment_id,omitempty"`
	DisplayName      string    `json:"display_name,omitempty"`
	Description      string    `json:"description,omitempty"`
	CreatedAt        timestamp `json:"created_at"`
	Namespace        string    `json:"namespace,omitempty"`
	StorageState     string    `json:"storage_state,omitempty"`
	LastRunCreatedAt timestamp `json:"last_run_created_at"`
}

func (e experiment) v2() experimentV2 {
	return experimentV2{
		ExperimentID: e.id, DisplayName: e.name, Description: e.description,
		CreatedAt: timestamp(e.created), Namespace: e.namespace, StorageState: e.storageState,
		LastRunCreatedAt: timestamp(time.Unix(0, 0)),
	}
}

type resourceKey struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
}

type resourceReference struct {
	Key          *resourceKey `json:"key,omitempty"`
	Name         string       `json:"name,omitempty"`
	Relationship string       `json:"relationship,omitempty"`
}

type experimentV1 struct {
	ID                 string              `json:"id,omitempty"`
	Name               string              `json:"name,omitempty"`
	Description        string              `json:"description,omitempty"`
	CreatedAt          timestamp           `json:"created_at"`
	ResourceReferences []resourceReference `json:"resource_references,omitempty"`
	StorageState       string              `json:"storage_state,omitempty"`
}

// v1 always carries the namespace owner reference; in single-user mode it
// has a type and no id (recorded).
func (e experiment) v1() experimentV1 {
	return experimentV1{
		ID: e.id, Name: e.name, Description: e.description,
		CreatedAt: timestamp(e.created), StorageState: "STORAGESTATE_" + e.storageState,
		ResourceReferences: []resourceReference{{
			Key: &resourceKey{Type: "NAMESPACE", ID: e.namespace}, Relationship: "OWNER",
		}},
	}
}
