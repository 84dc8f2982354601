package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"

	"sigs.k8s.io/yaml"
)

// KFP's upload endpoint (server/pipeline_upload_server.go): a plain HTTP
// handler, multipart field "uploadfile", query name, display_name,
// description and namespace.
const (
	uploadFileField = "uploadfile"
	// maxUpload bounds the multipart body: KFP's own file limit is 32 MiB.
	maxUpload = 32 << 20
	// Parts beyond this are spooled to disk by mime/multipart, not memory.
	uploadMemory = 8 << 20
)

// uploadPipeline creates a pipeline and its first version, as 2.17.0 does
// (recorded): a shared upload (no namespace) asks nobody, a namespaced one
// asks for create; name defaults to display_name, then the file's name.
func (s *Server) uploadPipeline(w http.ResponseWriter, r *http.Request, _ []string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	file, header, err := r.FormFile(uploadFileField)
	if err != nil {
		writeUploadError(w, http.StatusBadRequest, "Failed to read pipeline from file")
		return
	}
	defer file.Close()
	raw, err := io.ReadAll(file)
	if err != nil {
		writeUploadError(w, http.StatusBadRequest, "Failed to read a pipeline spec file")
		return
	}
	q := r.URL.Query()
	namespace := q.Get("namespace")
	if !s.cfg.MultiUser {
		namespace = ""
	} else if namespace != "" {
		if err := s.access(r, rbacPipelines, namespace, verbCreate, ""); err != nil {
			// 2.17.0 hides the cause and answers 400 whatever it was.
			writeUploadError(w, http.StatusBadRequest, "Failed to create a pipeline")
			return
		}
	}
	name := q.Get("name")
	if name == "" {
		name = q.Get("display_name")
	}
	if name == "" {
		name = header.Filename
	}
	displayName := q.Get("display_name")
	if displayName == "" {
		displayName = name
	}
	// From here on KFP has set its JSON content type.
	w.Header().Set("Content-Type", "application/json")
	spec, uerr := parseTemplate(raw)
	if uerr != nil {
		writeUploadError(w, http.StatusBadRequest, uerr.external)
		return
	}
	now := s.now()
	p := pipeline{id: s.newID(), name: name, displayName: displayName, description: q.Get("description"), namespace: namespace, created: now}
	v := pipelineVersion{id: s.newID(), pipelineID: p.id, name: name, displayName: displayName, description: p.description, spec: spec, created: now}
	if !s.store.addPipeline(p, v) {
		writeUploadError(w, http.StatusConflict, "Failed to create a pipeline and a pipeline version")
		return
	}
	body, err := encodeJSON(p.v2(), false)
	if err != nil {
		writeUploadError(w, http.StatusInternalServerError, "Failed to create a pipeline")
		return
	}
	_, _ = w.Write(body)
}

// writeUploadError is the upload endpoint's own envelope, written with
// encoding/json's defaults (so `&` is \u0026 here, unlike everywhere else).
// KFP's error_details is the message and a Go stack trace of its build; the
// stand-in says it has none. Before the handler sets its content type the
// body is sniffed as text/plain, as the recordings show.
func writeUploadError(w http.ResponseWriter, status int, msg string) {
	body, _ := encodeJSON(struct {
		ErrorMessage string `json:"error_message"`
		ErrorDetails string `json:"error_details"`
	}{msg, msg + "\n(kfp-connect API server stand-in: no stack trace)"}, true)
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// pipelineName is what KFP 2.17.0 demands of a v2 spec's pipelineInfo.name.
var pipelineName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

const supportedSchema = "2.1.0"

// parseTemplate is the part of KFP's template.New that clients see: the
// file must be YAML (or JSON) of a v2 pipeline spec (or an Argo Workflow,
// KFP v1's format); a v2 spec must be schema 2.1.0 with a valid name. It
// returns the spec as JSON, as KFP stores and serves it.
func parseTemplate(raw []byte) (json.RawMessage, *userError) {
	unknown := invalidInput("unknown template format")
	if len(raw) == 0 {
		return nil, unknown
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, unknown
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil || doc == nil {
		return nil, unknown
	}
	if spec, ok := doc["pipeline_spec"].(map[string]any); ok {
		doc = spec
	}
	if doc["kind"] == "Workflow" {
		return js, nil
	}
	info, ok := doc["pipelineInfo"].(map[string]any)
	if !ok {
		return nil, unknown
	}
	if v := fmt.Sprint(doc["schemaVersion"]); v != supportedSchema {
		return nil, invalidInput(fmt.Sprintf("KFP only supports schema version %s, but the pipeline spec has version %s", supportedSchema, v))
	}
	if name, _ := info["name"].(string); !pipelineName.MatchString(name) {
		return nil, invalidInput("pipeline's name must contain only lowercase alphanumeric characters or '-' and must start with alphanumeric characters")
	}
	return js, nil
}
