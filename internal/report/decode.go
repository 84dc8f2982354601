package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// Decoded is a -o json report read back, e.g. from the log of a doctor that
// ran in a pod. Report holds what the JSON carries. OK and Summary are the
// writing doctor's own verdict, kept as written: the engine's private marks
// (a probe that only looked at its own machine, a misconfigured run) do not
// travel in JSON, so Report.OK() on a decoded report is not the same
// judgement and callers should read OK.
type Decoded struct {
	Report        *Report
	SchemaVersion string
	OK            bool
	Summary       Counts
}

// ErrSchema is wrapped when the JSON is a report of another schema version.
var ErrSchema = errors.New("report of another schema version")

// ReadJSON decodes one report written by (*Report).JSON from r; what
// follows that JSON value in r (a log's later lines) is ignored. Fields it
// does not know are ignored (the schema only grows within a version).
func ReadJSON(r io.Reader) (*Decoded, error) {
	var in jsonReport
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return nil, fmt.Errorf("decoding the doctor's JSON report: %w", err)
	}
	if in.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("decoding the doctor's JSON report: schema_version %q, this build reads %q: %w (run a doctor of the same release)", in.SchemaVersion, SchemaVersion, ErrSchema)
	}
	rep := &Report{
		Target: in.Target, Details: in.Details, Tool: in.Tool, Context: in.Context,
		Elapsed: time.Duration(in.ElapsedMS) * time.Millisecond,
		Results: make([]probe.Result, 0, len(in.Results)),
	}
	for _, jr := range in.Results {
		rep.Results = append(rep.Results, probe.Result{
			Probe: jr.Probe, Title: jr.Title, Status: jr.Status, KFD: kfd.ID(jr.KFD),
			Message: jr.Message, Hint: jr.Hint, Doc: jr.Doc,
			Duration: time.Duration(jr.DurationMS) * time.Millisecond, Evidence: jr.Evidence,
		})
	}
	return &Decoded{Report: rep, SchemaVersion: in.SchemaVersion, OK: in.OK, Summary: in.Summary}, nil
}
