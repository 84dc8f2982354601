package kfp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Experiment is the part of an experiment both API versions share, under
// their own field names.
type Experiment struct {
	ID           string `json:"id"`            // v1beta1
	ExperimentID string `json:"experiment_id"` // v2beta1
	Name         string `json:"name"`          // v1beta1
	DisplayName  string `json:"display_name"`  // v2beta1
	Namespace    string `json:"namespace"`     // v2beta1
}

// Title is the experiment's name in either version.
func (e Experiment) Title() string {
	if e.DisplayName != "" {
		return e.DisplayName
	}
	return e.Name
}

// ExperimentList is a list answer. An empty list is the literal "{}".
type ExperimentList struct {
	Experiments   []Experiment `json:"experiments"`
	TotalSize     int          `json:"total_size"`
	NextPageToken string       `json:"next_page_token"`
}

// ExperimentsQuery is the query kfp.Client sends to list experiments in a
// namespace: v2beta1 takes ?namespace=, v1beta1 a NAMESPACE resource reference.
func ExperimentsQuery(v APIVersion, namespace string) url.Values {
	q := url.Values{}
	if namespace == "" {
		return q
	}
	if v == V1beta1 {
		q.Set("resource_reference_key.type", "NAMESPACE")
		q.Set("resource_reference_key.id", namespace)
	} else {
		q.Set("namespace", namespace)
	}
	return q
}

// ListExperiments lists experiments. It returns the parsed list only for a 200
// JSON answer; the reply is returned in every case for the classifier.
func (c *Client) ListExperiments(ctx context.Context, v APIVersion, namespace string) (*ExperimentList, *Reply, error) {
	reply, err := c.Do(ctx, http.MethodGet, "/apis/"+string(v)+"/experiments", ExperimentsQuery(v, namespace), nil)
	if err != nil {
		return nil, reply, err
	}
	if reply.StatusCode != http.StatusOK || reply.Truncated {
		return nil, reply, nil
	}
	return parseExperimentList(reply.Body), reply, nil
}

// parseExperimentList accepts only what a list answer can be: a JSON object
// ("{}" when empty) with no fields but the list's own. Anything else (a UI
// page, another service's JSON) means we did not reach the list endpoint.
func parseExperimentList(body []byte) *ExperimentList {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		return nil
	}
	for k := range fields {
		if k != "experiments" && k != "total_size" && k != "next_page_token" {
			return nil
		}
	}
	var list ExperimentList
	if json.Unmarshal(body, &list) != nil {
		return nil
	}
	return &list
}

// CreateExperiment creates an experiment as kfp.Client.create_experiment
// does in v2 (POST /apis/v2beta1/experiments with display_name and
// namespace). It returns the new experiment only for a 200 JSON answer.
func (c *Client) CreateExperiment(ctx context.Context, namespace, name, description string) (*Experiment, *Reply, error) {
	body, _ := json.Marshal(map[string]string{"display_name": name, "description": description, "namespace": namespace})
	reply, err := c.DoBody(ctx, http.MethodPost, "/apis/v2beta1/experiments", nil, nil, body)
	if err != nil || reply.StatusCode != http.StatusOK || reply.Truncated {
		return nil, reply, err
	}
	var e Experiment
	if json.Unmarshal(reply.Body, &e) != nil || e.ExperimentID == "" {
		return nil, reply, nil
	}
	return &e, reply, nil
}

// DeleteExperiment deletes an experiment by id (kfp.Client.delete_experiment).
func (c *Client) DeleteExperiment(ctx context.Context, id string) (*Reply, error) {
	return c.Do(ctx, http.MethodDelete, "/apis/v2beta1/experiments/"+url.PathEscape(id), nil, nil)
}
