package apiserver

import (
	"crypto/rand"
	"fmt"
	"sync"
)

// store keeps what the real server keeps in its database, in memory and
// safe for concurrent handlers. Lookups return copies.
type store struct {
	mu          sync.Mutex
	experiments []experiment
	pipelines   []pipeline
	versions    []pipelineVersion
	runs        []run
}

func newStore() *store { return &store{} }

// addExperiment stores e unless its name is taken in its namespace: KFP's
// experiments table has a unique key on (Name, Namespace), shared by both API
// versions.
func (s *store) addExperiment(e experiment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.experiments {
		if have.namespace == e.namespace && have.name == e.name {
			return false
		}
	}
	s.experiments = append(s.experiments, e)
	return true
}

func (s *store) experiment(id string) (experiment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.experiments {
		if e.id == id {
			return e, true
		}
	}
	return experiment{}, false
}

// experimentsIn lists one namespace's experiments ("" in single-user mode).
func (s *store) experimentsIn(namespace string) []listable {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []listable
	for _, e := range s.experiments {
		if e.namespace == namespace {
			out = append(out, e)
		}
	}
	return out
}

func (s *store) deleteExperiment(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.experiments {
		if e.id == id {
			s.experiments = append(s.experiments[:i:i], s.experiments[i+1:]...)
			return
		}
	}
}

func (s *store) setExperimentState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.experiments {
		if s.experiments[i].id == id {
			s.experiments[i].storageState = state
		}
	}
}

// addPipeline stores a pipeline and its first version unless the name is
// taken in its namespace ("" for shared pipelines).
func (s *store) addPipeline(p pipeline, v pipelineVersion) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.pipelines {
		if have.namespace == p.namespace && have.name == p.name {
			return false
		}
	}
	s.pipelines = append(s.pipelines, p)
	s.versions = append(s.versions, v)
	return true
}

func (s *store) pipeline(id string) (pipeline, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pipelines {
		if p.id == id {
			return p, true
		}
	}
	return pipeline{}, false
}

func (s *store) pipelinesIn(namespace string) []listable {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []listable
	for _, p := range s.pipelines {
		if p.namespace == namespace {
			out = append(out, p)
		}
	}
	return out
}

// versionsOf lists a pipeline's versions, oldest first.
func (s *store) versionsOf(pipelineID string) []listable {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []listable
	for _, v := range s.versions {
		if v.pipelineID == pipelineID {
			out = append(out, v)
		}
	}
	return out
}

func (s *store) version(pipelineID, id string) (pipelineVersion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.versions {
		if v.pipelineID == pipelineID && v.id == id {
			return v, true
		}
	}
	return pipelineVersion{}, false
}

// deletePipeline removes a pipeline and its versions.
func (s *store) deletePipeline(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pipelines {
		if p.id == id {
			s.pipelines = append(s.pipelines[:i:i], s.pipelines[i+1:]...)
			break
		}
	}
	kept := s.versions[:0:0]
	for _, v := range s.versions {
		if v.pipelineID != id {
			kept = append(kept, v)
		}
	}
	s.versions = kept
}

func (s *store) addRun(x run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, x)
}

func (s *store) run(id string) (run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.runs {
		if x.id == id {
			return x, true
		}
	}
	return run{}, false
}

func (s *store) runsIn(namespace string) []listable {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []listable
	for _, x := range s.runs {
		if x.namespace == namespace {
			out = append(out, x)
		}
	}
	return out
}

// newUUID is a random (version 4) UUID, the form KFP's ids take.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
