package kfp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// ServerKind tells which KFP program answered healthz.
type ServerKind string

const (
	APIServer ServerKind = "api-server" // ml-pipeline:8888
	UIServer  ServerKind = "ui-server"  // ml-pipeline-ui:80, or the gateway's /pipeline
	Unknown   ServerKind = "unknown"
)

// Health is a parsed healthz answer of either server.
type Health struct {
	Kind ServerKind
	// API server fields.
	CommitSHA     string `json:"commit_sha"`
	TagName       string `json:"tag_name"`
	MultiUser     *bool  `json:"multi_user"`
	PipelineStore string `json:"pipeline_store"`
	// UI server fields.
	BuildDate           string `json:"buildDate"`
	FrontendCommitHash  string `json:"frontendCommitHash"`
	FrontendTagName     string `json:"frontendTagName"`
	APIServerReady      *bool  `json:"apiServerReady"`
	APIServerCommitHash string `json:"apiServerCommitHash"`
	APIServerTagName    string `json:"apiServerTagName"`
	APIServerMultiUser  *bool  `json:"apiServerMultiUser"`
	PipelineStoreUI     string `json:"pipelineStore"`
}

// IsMultiUser reports the deployment's mode, if the answer says.
func (h *Health) IsMultiUser() (multi, known bool) {
	for _, b := range []*bool{h.MultiUser, h.APIServerMultiUser} {
		if b != nil {
			return *b, true
		}
	}
	return false, false
}

// Version is the server's tag, as far as the answer tells.
func (h *Health) Version() string {
	if h.Kind == UIServer {
		return h.APIServerTagName
	}
	return h.TagName
}

// ParseHealth tells the two healthz shapes apart. The UI server answers with
// its own camelCase fields (apiServerReady, frontendTagName, …); the API server
// with commit_sha, tag_name, multi_user.
func ParseHealth(body []byte) (*Health, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("healthz is not JSON: %w", err)
	}
	var h Health
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("healthz has unexpected field types: %w", err)
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := raw[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("apiServerReady", "frontendTagName", "frontendCommitHash", "buildDate"):
		h.Kind = UIServer
	case has("commit_sha", "tag_name", "multi_user"):
		h.Kind = APIServer
	default:
		h.Kind = Unknown
	}
	return &h, nil
}

// APIVersion is a KFP REST API version.
type APIVersion string

const (
	V1beta1 APIVersion = "v1beta1"
	V2beta1 APIVersion = "v2beta1"
)

// Healthz asks the endpoint's health, as kfp.Client() does first. It returns
// the reply in every case; Health is set when the reply parsed as healthz.
func (c *Client) Healthz(ctx context.Context, v APIVersion) (*Health, *Reply, error) {
	reply, err := c.Do(ctx, http.MethodGet, "/apis/"+string(v)+"/healthz", nil, nil)
	if err != nil {
		return nil, reply, err
	}
	if reply.StatusCode != http.StatusOK || reply.Truncated {
		return nil, reply, nil
	}
	h, perr := ParseHealth(reply.Body)
	if perr != nil || h.Kind == Unknown {
		return nil, reply, nil
	}
	return h, reply, nil
}
