package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// pipeline and pipelineVersion are KFP's model.Pipeline and
// model.PipelineVersion. An upload makes one of each, with the same name.
type pipeline struct {
	id, name, displayName, description, namespace string
	created                                       time.Time
}

type pipelineVersion struct {
	id, pipelineID, name, displayName, description string
	spec                                           json.RawMessage // the uploaded YAML as JSON
	created                                        time.Time
}

var pipelineSpec = listSpec{typeName: "Pipeline", model: "pipelines", fields: map[string]string{
	"id": keyColumn, "pipeline_id": keyColumn, "name": "Name", "display_name": "DisplayName",
	"created_at": createdColumn, "description": "Description", "namespace": "Namespace",
}}

var versionSpec = listSpec{typeName: "PipelineVersion", model: "pipeline_versions", fields: map[string]string{
	"id": keyColumn, "pipeline_version_id": keyColumn, "name": "Name", "display_name": "DisplayName",
	"created_at": createdColumn, "description": "Description", "pipeline_id": "PipelineId",
}}

func (p pipeline) key() string { return p.id }

func (p pipeline) field(column string) (any, bool) {
	switch column {
	case keyColumn:
		return p.id, true
	case "Name":
		return p.name, true
	case "DisplayName":
		return p.displayName, true
	case createdColumn:
		return p.created.Unix(), true
	case "Description":
		return p.description, true
	case "Namespace":
		return p.namespace, true
	}
	return nil, false
}

func (v pipelineVersion) key() string { return v.id }

func (v pipelineVersion) field(column string) (any, bool) {
	switch column {
	case keyColumn:
		return v.id, true
	case "Name":
		return v.name, true
	case "DisplayName":
		return v.displayName, true
	case createdColumn:
		return v.created.Unix(), true
	case "Description":
		return v.description, true
	case "PipelineId":
		return v.pipelineID, true
	}
	return nil, false
}

// listPipelines is KFP's ListPipelines (server/pipeline_server.go): the
// filter is parsed first on its own (for tag predicates), then the list
// options; a pipeline list without a namespace is the shared pipelines,
// which nobody is asked about (recorded: 200 with no identity).
func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, namespace string, render func(listable) any) {
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	if lq.filter != "" {
		if _, err := unmarshalProto(s.schemas.v2.filter, []byte(lq.filter)); err != nil {
			writeUserError(w, invalidInput("failed to parse filter spec: "+err.Error()).
				wrap("Failed to list pipelines due to invalid tag filter in filter spec"))
			return
		}
	}
	opts, uerr := lq.options(pipelineSpec, s.schemas.v2.filter)
	if uerr != nil {
		writeUserError(w, uerr.wrap(fmt.Sprintf("Failed to list pipelines due invalid list options: pageToken: %v, pageSize: %v, sortBy: %v, filter: %v",
			lq.pageToken, lq.pageSize, lq.sortBy, lq.filter)))
		return
	}
	if !s.cfg.MultiUser {
		namespace = ""
	} else if namespace != "" {
		if err := s.access(r, rbacPipelines, namespace, verbList, ""); err != nil {
			writeUserError(w, err.wrap("Failed to authorize with API").
				wrap(fmt.Sprintf("Failed to list pipelines due to authorization error. Check if you have read permission to namespace %v", namespace)).
				wrap(fmt.Sprintf("Failed to list pipelines in namespace %s. Check error stack", namespace)))
			return
		}
	}
	page, total, next := opts.page(s.store.pipelinesIn(namespace))
	writeOK(w, newListReply("pipelines", page, total, next, render))
}

func (s *Server) listPipelinesV2(w http.ResponseWriter, r *http.Request, _ []string) {
	s.listPipelines(w, r, r.URL.Query().Get("namespace"), func(l listable) any { return l.(pipeline).v2() })
}

func (s *Server) listPipelinesV1(w http.ResponseWriter, r *http.Request, _ []string) {
	namespace, err := v1NamespaceKey(r, "pipelines")
	if err != nil {
		writeUserError(w, err)
		return
	}
	s.listPipelines(w, r, namespace, func(l listable) any { return s.pipelineV1(l.(pipeline)) })
}

// pipelineByID is KFP's canAccessPipeline then GetPipeline: in multi-user
// mode the lookup and, for a namespaced pipeline, the caller's right to verb
// it; shared pipelines are open. how is the handler's own wrap ("Failed to
// get a pipeline due authorization error for pipeline id …").
func (s *Server) pipelineByID(r *http.Request, id, verb, how string) (pipeline, *userError) {
	p, ok := s.store.pipeline(id)
	missing := notFound(fmt.Sprintf("Pipeline %s not found", id)).wrap(fmt.Sprintf("Failed to get a pipeline with id %s", id))
	if !s.cfg.MultiUser {
		if !ok {
			return pipeline{}, missing
		}
		return p, nil
	}
	if !ok {
		return pipeline{}, missing.wrap(fmt.Sprintf("Failed to access pipeline %s. Check if it exists and have a namespace assigned", id)).
			wrap(fmt.Sprintf("%s for pipeline id %s", how, id))
	}
	if p.namespace != "" {
		// (derived) the refusal's wrapping follows the other resources'.
		if err := s.access(r, rbacPipelines, p.namespace, verb, p.name); err != nil {
			return pipeline{}, err.wrap("Failed to authorize with API").wrap(fmt.Sprintf("%s for pipeline id %s", how, id))
		}
	}
	return p, nil
}

func (s *Server) getPipeline(r *http.Request, id string) (pipeline, *userError) {
	p, err := s.pipelineByID(r, id, verbGet, "Failed to get a pipeline due authorization error")
	if err != nil {
		return pipeline{}, err.wrap(fmt.Sprintf("Failed to get a pipeline %s. Check error stack", id))
	}
	return p, nil
}

func (s *Server) getPipelineV2(w http.ResponseWriter, r *http.Request, params []string) {
	p, err := s.getPipeline(r, params[0])
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeOK(w, p.v2())
}

func (s *Server) getPipelineV1(w http.ResponseWriter, r *http.Request, params []string) {
	p, err := s.getPipeline(r, params[0])
	if err != nil {
		writeUserError(w, err)
		return
	}
	writeOK(w, s.pipelineV1(p))
}

// deletePipeline refuses a pipeline that has versions unless cascade=true,
// which the SDK's delete_pipeline() never sends (recorded).
func (s *Server) deletePipeline(w http.ResponseWriter, r *http.Request, params []string) {
	id := params[0]
	wrap := fmt.Sprintf("Failed to delete pipeline %s. Check error stack", id)
	if _, err := s.pipelineByID(r, id, verbDelete, "Failed to delete a pipeline due authorization error"); err != nil {
		writeUserError(w, err.wrap(wrap))
		return
	}
	if versions := s.store.versionsOf(id); len(versions) > 0 && r.URL.Query().Get("cascade") != "true" {
		writeUserError(w, invalidInput(fmt.Sprintf("Failed to delete pipeline with id %s as it has existing pipeline versions (e.g. %s). Set cascade=true to delete all versions",
			id, versions[0].key())).wrap(wrap))
		return
	}
	s.store.deletePipeline(id)
	writeOK(w, empty{})
}

// listVersions serves the versions of one pipeline, readable by whoever may
// list pipelines in its namespace.
func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, params []string) {
	id := params[0]
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	opts, uerr := lq.options(versionSpec, s.schemas.v2.filter)
	if uerr != nil {
		writeUserError(w, uerr.wrap(fmt.Sprintf("Failed to list pipeline versions due invalid list options: pageToken: %v, pageSize: %v, sortBy: %v, filter: %v",
			lq.pageToken, lq.pageSize, lq.sortBy, lq.filter)))
		return
	}
	if _, err := s.pipelineByID(r, id, verbList, "Failed to list pipeline versions due to authorization error"); err != nil {
		writeUserError(w, err.wrap(fmt.Sprintf("Failed to list pipeline versions for pipeline %s", id)))
		return
	}
	page, total, next := opts.page(s.store.versionsOf(id))
	writeOK(w, newListReply("pipeline_versions", page, total, next, func(l listable) any { return l.(pipelineVersion).v2() }))
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, params []string) {
	pid, vid := params[0], params[1]
	wrap := fmt.Sprintf("Failed to get a pipeline version %s", vid)
	if _, err := s.pipelineByID(r, pid, verbGet, "Failed to get a pipeline version due to authorization error"); err != nil {
		writeUserError(w, err.wrap(wrap))
		return
	}
	v, ok := s.store.version(pid, vid)
	if !ok {
		writeUserError(w, notFound(fmt.Sprintf("PipelineVersion %s not found", vid)).wrap(wrap))
		return
	}
	writeOK(w, v.v2())
}

// Renderings (proto names, unset fields left out).

type pipelineV2 struct {
	PipelineID  string    `json:"pipeline_id,omitempty"`
	DisplayName string    `json:"display_name,omitempty"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   timestamp `json:"created_at"`
	Namespace   string    `json:"namespace,omitempty"`
}

func (p pipeline) v2() pipelineV2 {
	return pipelineV2{PipelineID: p.id, DisplayName: p.displayName, Name: p.name, Description: p.description,
		CreatedAt: timestamp(p.created), Namespace: p.namespace}
}

type versionV2 struct {
	PipelineID        string          `json:"pipeline_id,omitempty"`
	PipelineVersionID string          `json:"pipeline_version_id,omitempty"`
	DisplayName       string          `json:"display_name,omitempty"`
	Name              string          `json:"name,omitempty"`
	Description       string          `json:"description,omitempty"`
	CreatedAt         timestamp       `json:"created_at"`
	PipelineSpec      json.RawMessage `json:"pipeline_spec,omitempty"`
}

func (v pipelineVersion) v2() versionV2 {
	return versionV2{PipelineID: v.pipelineID, PipelineVersionID: v.id, DisplayName: v.displayName, Name: v.name,
		Description: v.description, CreatedAt: timestamp(v.created), PipelineSpec: v.spec}
}

type versionV1 struct {
	ID                 string              `json:"id,omitempty"`
	Name               string              `json:"name,omitempty"`
	CreatedAt          timestamp           `json:"created_at"`
	ResourceReferences []resourceReference `json:"resource_references,omitempty"`
	Description        string              `json:"description,omitempty"`
}

type pipelineV1 struct {
	ID                 string              `json:"id,omitempty"`
	CreatedAt          timestamp           `json:"created_at"`
	Name               string              `json:"name,omitempty"`
	Description        string              `json:"description,omitempty"`
	DefaultVersion     *versionV1          `json:"default_version,omitempty"`
	ResourceReferences []resourceReference `json:"resource_references,omitempty"`
}

// pipelineV1 is v1beta1's pipeline: its latest version as default_version,
// and a namespace owner reference only for a namespaced pipeline.
func (s *Server) pipelineV1(p pipeline) pipelineV1 {
	out := pipelineV1{ID: p.id, CreatedAt: timestamp(p.created), Name: p.name, Description: p.description}
	if vs := s.store.versionsOf(p.id); len(vs) > 0 {
		v := vs[len(vs)-1].(pipelineVersion)
		out.DefaultVersion = &versionV1{ID: v.id, Name: v.name, CreatedAt: timestamp(v.created), Description: v.description,
			ResourceReferences: []resourceReference{{Key: &resourceKey{Type: "PIPELINE", ID: p.id}, Relationship: "OWNER"}}}
	}
	if p.namespace != "" {
		out.ResourceReferences = []resourceReference{{Key: &resourceKey{Type: "NAMESPACE", ID: p.namespace}, Relationship: "OWNER"}}
	}
	return out
}
