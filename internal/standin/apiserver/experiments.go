package apiserver

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// experiment is the stored form; the API versions render it differently.
type experiment struct {
	id, name, description, namespace string
	created                          time.Time
}

// store keeps experiments per namespace ("" in single-user mode), in
// creation order, safe for concurrent handlers.
type store struct {
	mu   sync.Mutex
	byNS map[string][]experiment
}

func newStore() *store { return &store{byNS: map[string][]experiment{}} }

func (s *store) list(namespace string) []experiment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]experiment(nil), s.byNS[namespace]...)
}

// add stores e unless its name is taken in its namespace (KFP's table has a
// unique key on name and namespace).
func (s *store) add(e experiment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.byNS[e.namespace] {
		if have.name == e.name {
			return false
		}
	}
	s.byNS[e.namespace] = append(s.byNS[e.namespace], e)
	return true
}

// newUUID is a random (version 4) UUID, the form KFP's ids take.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
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
		CreatedAt: timestamp(e.created), Namespace: e.namespace, StorageState: "AVAILABLE",
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

func (e experiment) v1() experimentV1 {
	out := experimentV1{
		ID: e.id, Name: e.name, Description: e.description,
		CreatedAt: timestamp(e.created), StorageState: "STORAGESTATE_AVAILABLE",
	}
	if e.namespace != "" {
		out.ResourceReferences = []resourceReference{{
			Key: &resourceKey{Type: "NAMESPACE", ID: e.namespace}, Relationship: "OWNER",
		}}
	}
	return out
}

// listReply is both versions' ListExperimentsResponse: with no experiments
// every field is unset and the body is the literal {}.
type listReply[T any] struct {
	Experiments   []T    `json:"experiments,omitempty"`
	TotalSize     int32  `json:"total_size,omitempty"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// newListReply renders experiments in one API version's shape.
func newListReply[T any](list []experiment, render func(experiment) T) listReply[T] {
	var out listReply[T]
	for _, e := range list {
		out.Experiments = append(out.Experiments, render(e))
	}
	out.TotalSize = int32(len(out.Experiments))
	return out
}
