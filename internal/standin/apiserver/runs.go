package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// run is KFP's model.Run as far as the stand-in keeps one: no engine runs
// it, so it stays in its first state.
type run struct {
	id, displayName, description, experimentID, namespace string
	pipelineID, versionID                                 string
	created                                               time.Time
}

const runPending = "PENDING"

var runSpec = listSpec{typeName: "Run", model: "run_details", fields: map[string]string{
	"id": keyColumn, "run_id": keyColumn, "name": "DisplayName", "display_name": "DisplayName",
	"created_at": createdColumn, "description": "Description", "experiment_id": "ExperimentId",
	"namespace": "Namespace", "storage_state": "StorageState", "state": "State",
}}

func (x run) key() string { return x.id }

func (x run) field(column string) (any, bool) {
	switch column {
	case keyColumn:
		return x.id, true
	case "DisplayName":
		return x.displayName, true
	case createdColumn:
		return x.created.Unix(), true
	case "Description":
		return x.description, true
	case "ExperimentId":
		return x.experimentID, true
	case "Namespace":
		return x.namespace, true
	case "StorageState":
		return stateAvailable, true
	case "State":
		return runPending, true
	}
	return nil, false
}

// runAPI is what differs between the versions' run handlers.
type runAPI struct {
	v1        bool
	list, get string
	render    func(run) any
}

var (
	runV2 = runAPI{list: "Failed to list runs", get: "Failed to get a run", render: func(x run) any { return x.v2() }}
	// (derived) v1's list message follows its get message's naming.
	runV1 = runAPI{v1: true, list: "Failed to list v1beta1 runs", get: "Failed to get a v1beta1 run", render: func(x run) any { return x.v1() }}
)

// canAccessRuns is KFP's RunServer.canAccessRun for a namespace.
func (s *Server) canAccessRuns(r *http.Request, namespace, verb, name string) *userError {
	if namespace == "" || namespace == "-" {
		return invalidInput("A run cannot have an empty namespace in multi-user mode")
	}
	if err := s.access(r, rbacRuns, namespace, verb, name); err != nil {
		return err.wrap(fmt.Sprintf("Failed to access run %s. Check if you have access to namespace %s", "", namespace))
	}
	return nil
}

// listRuns is KFP's ListRuns: by namespace, or by experiment (whose
// namespace is then the one authorized).
func (s *Server) listRuns(api runAPI) handler {
	return func(w http.ResponseWriter, r *http.Request, _ []string) {
		lq, err := parseListQuery(r.URL.Query())
		if err != nil {
			writeGatewayError(w, codeInvalidArgument, err.Error())
			return
		}
		md := s.schemas.v2.filter
		if api.v1 {
			md = s.schemas.v1.filter
		}
		opts, uerr := lq.options(runSpec, md)
		if uerr != nil {
			writeUserError(w, uerr.wrap("Failed to create list options").wrap(api.list))
			return
		}
		namespace, experimentID := r.URL.Query().Get("namespace"), r.URL.Query().Get("experiment_id")
		if api.v1 {
			q := r.URL.Query()
			switch q.Get("resource_reference_key.type") {
			case "NAMESPACE":
				namespace = q.Get("resource_reference_key.id")
			case "EXPERIMENT":
				experimentID = q.Get("resource_reference_key.id")
			}
		}
		if experimentID != "" {
			e, ok := s.store.experiment(experimentID)
			if !ok {
				writeUserError(w, notFound(fmt.Sprintf("Experiment %s not found", experimentID)).
					wrap(fmt.Sprintf("Failed to fetch namespace from experiment %s", experimentID)).
					wrap(fmt.Sprintf("Failed to list runs due to error fetching namespace for experiment %s. Try filtering based on namespace", experimentID)).
					wrap(api.list))
				return
			}
			namespace = e.namespace
		}
		if !s.cfg.MultiUser {
			namespace = ""
		} else if err := s.canAccessRuns(r, namespace, verbList, ""); err != nil {
			writeUserError(w, err.wrap(fmt.Sprintf("Failed to list runs due to authorization error. Check if you have permission to access namespace %s", namespace)).wrap(api.list))
			return
		}
		var items []listable
		for _, x := range s.store.runsIn(namespace) {
			if experimentID == "" || x.(run).experimentID == experimentID {
				items = append(items, x)
			}
		}
		page, total, next := opts.page(items)
		writeOK(w, newListReply("runs", page, total, next, func(l listable) any { return api.render(l.(run)) }))
	}
}

func (s *Server) getRun(api runAPI) handler {
	return func(w http.ResponseWriter, r *http.Request, params []string) {
		id := params[0]
		x, ok := s.store.run(id)
		missing := notFound(fmt.Sprintf("Run %s not found", id)).wrap(fmt.Sprintf("Failed to fetch run %s", id))
		switch {
		case !s.cfg.MultiUser && !ok:
			writeUserError(w, missing.wrap(api.get))
			return
		case !ok:
			writeUserError(w, missing.wrap(fmt.Sprintf("Failed to authorize with the run ID %s", id)).
				wrap("Failed to authorize the request").wrap(api.get))
			return
		case s.cfg.MultiUser:
			if err := s.canAccessRuns(r, x.namespace, verbGet, x.displayName); err != nil {
				writeUserError(w, err.wrap("Failed to authorize the request").wrap(api.get))
				return
			}
		}
		if api.v1 {
			writeOK(w, map[string]any{"run": x.v1()})
			return
		}
		writeOK(w, x.v2())
	}
}

// createRun is KFP's CreateRun up to handing the run to Argo: the
// experiment decides the namespace, the caller must be allowed to create
// runs there, and the Workflow is created in the cluster as the API
// server's own ServiceAccount. Where the cluster refuses it (no Argo CRD,
// or no RBAC for workflows, as in the lab), KFP answers 500 and stores no
// run; where it accepts it, the run is kept in its first state.
func (s *Server) createRun(w http.ResponseWriter, r *http.Request, _ []string) {
	const failed = "Failed to create a new run"
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		DisplayName              string `json:"display_name"`
		Description              string `json:"description"`
		ExperimentID             string `json:"experiment_id"`
		PipelineVersionReference *struct {
			PipelineID        string `json:"pipeline_id"`
			PipelineVersionID string `json:"pipeline_version_id"`
		} `json:"pipeline_version_reference"`
		PipelineSpec json.RawMessage `json:"pipeline_spec"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeGatewayError(w, codeInvalidArgument, err.Error())
		return
	}
	namespace := s.cfg.Namespace
	experimentID := req.ExperimentID
	if experimentID == "" && !s.cfg.MultiUser {
		experimentID = s.defaultExperimentID
	}
	if s.cfg.MultiUser || experimentID != "" {
		e, found := s.store.experiment(experimentID)
		if !found {
			// (derived) the lookup KFP makes to find the run's namespace.
			writeUserError(w, notFound(fmt.Sprintf("Experiment %s not found", experimentID)).wrap(failed))
			return
		}
		if s.cfg.MultiUser {
			namespace = e.namespace
			if err := s.canAccessRuns(r, namespace, verbCreate, req.DisplayName); err != nil {
				writeUserError(w, err.wrap("Failed to authorize the request").wrap(failed))
				return
			}
		}
	}
	x := run{id: s.newID(), displayName: req.DisplayName, description: req.Description, experimentID: experimentID,
		namespace: namespace, created: s.now()}
	if ref := req.PipelineVersionReference; ref != nil {
		if _, found := s.store.version(ref.PipelineID, ref.PipelineVersionID); !found {
			writeUserError(w, notFound(fmt.Sprintf("PipelineVersion %s not found", ref.PipelineVersionID)).wrap(failed))
			return
		}
		x.pipelineID, x.versionID = ref.PipelineID, ref.PipelineVersionID
	} else if len(req.PipelineSpec) == 0 {
		writeUserError(w, invalidInput("Failed to create a run: pipeline spec or pipeline version reference is required").wrap(failed))
		return
	}
	if err := s.workflows.create(r.Context(), namespace, x, s.reviewTimeout); err != nil {
		writeUserError(w, internalError(err.Error(), "Failed to create a workflow for ()").wrap(failed))
		return
	}
	if !s.cfg.MultiUser {
		x.namespace = ""
	}
	s.store.addRun(x)
	writeOK(w, x.v2())
}

// listRecurringRuns serves v2's recurring runs, of which the stand-in has
// none: the namespace and the caller's right to list jobs there decide.
func (s *Server) listRecurringRuns(w http.ResponseWriter, r *http.Request, _ []string) {
	namespace := r.URL.Query().Get("namespace")
	if s.cfg.MultiUser {
		if namespace == "" {
			// (derived) as runs, with the jobs resource.
			writeUserError(w, invalidInput("A recurring run cannot have an empty namespace in multi-user mode").wrap("Failed to list recurring runs"))
			return
		}
		if err := s.access(r, rbacJobs, namespace, verbList, ""); err != nil {
			writeUserError(w, err.wrap("Failed to authorize with API").wrap("Failed to list recurring runs"))
			return
		}
	}
	writeOK(w, empty{})
}

type runV2Reply struct {
	RunID                    string             `json:"run_id"`
	DisplayName              string             `json:"display_name,omitempty"`
	Description              string             `json:"description,omitempty"`
	ExperimentID             string             `json:"experiment_id,omitempty"`
	PipelineVersionReference *versionReference  `json:"pipeline_version_reference,omitempty"`
	CreatedAt                timestamp          `json:"created_at"`
	ScheduledAt              timestamp          `json:"scheduled_at"`
	FinishedAt               timestamp          `json:"finished_at"`
	State                    string             `json:"state"`
	StorageState             string             `json:"storage_state"`
	StateHistory             []runStatusHistory `json:"state_history"`
}

type versionReference struct {
	PipelineID        string `json:"pipeline_id,omitempty"`
	PipelineVersionID string `json:"pipeline_version_id,omitempty"`
}

type runStatusHistory struct {
	UpdateTime timestamp `json:"update_time"`
	State      string    `json:"state"`
}

// v2 is run.proto's Run (derived: no run was stored in the recordings).
func (x run) v2() runV2Reply {
	out := runV2Reply{RunID: x.id, DisplayName: x.displayName, Description: x.description, ExperimentID: x.experimentID,
		CreatedAt: timestamp(x.created), ScheduledAt: timestamp(x.created), FinishedAt: timestamp(time.Unix(0, 0)),
		State: runPending, StorageState: stateAvailable,
		StateHistory: []runStatusHistory{{UpdateTime: timestamp(x.created), State: runPending}}}
	if x.versionID != "" {
		out.PipelineVersionReference = &versionReference{x.pipelineID, x.versionID}
	}
	return out
}

type runV1Object struct {
	ID           string    `json:"id"`
	Name         string    `json:"name,omitempty"`
	Description  string    `json:"description,omitempty"`
	CreatedAt    timestamp `json:"created_at"`
	StorageState string    `json:"storage_state"`
}

// v1 is v1beta1's Run (derived); its get wraps it in a RunDetail.
func (x run) v1() runV1Object {
	return runV1Object{ID: x.id, Name: x.displayName, Description: x.description,
		CreatedAt: timestamp(x.created), StorageState: "STORAGESTATE_AVAILABLE"}
}
