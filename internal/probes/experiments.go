package probes

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

func modeProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "mode",
		Title:     "deployment mode against the namespace",
		DependsOn: []string{"healthz"},
		Run: func(_ context.Context, t *Target) probe.Result {
			h := t.healthz()
			if h == nil {
				return probe.Skipped("healthz did not say the deployment mode")
			}
			multi, known := h.IsMultiUser()
			ns := t.namespace()
			switch {
			case !known:
				return probe.Skipped("healthz did not say the deployment mode")
			case multi && ns == "":
				why := "no --namespace"
				if c := t.sdkCall(); c != nil && hasNote(c, sdkmodel.DefaultNamespaceNote) {
					why = "-n kubeflow is kfp.Client's default namespace=, which sends none"
				}
				return probe.Failed(kfd.EmptyNamespace, "multi-user KFP, but "+why+" (and no pod or context.json to fill one in, as kfp.Client() would): every experiment and run call will get 400 \"cannot have an empty namespace\"; pass your profile's namespace")
			case !multi && ns != "":
				return probe.Warned(kfd.NamespaceSingleUser, fmt.Sprintf("standalone KFP ignores namespace %q for lists, and refuses writes that carry it", ns))
			case multi && t.Namespace == "":
				return probe.Passf(fmt.Sprintf("multi-user KFP, namespace %q: the pod's own, which kfp.Client() reads from its ServiceAccount and stores in context.json", ns))
			case multi:
				return probe.Passf(fmt.Sprintf("multi-user KFP, namespace %q", ns))
			}
			return probe.Passf("standalone KFP, no namespace needed")
		},
	}
}

func listExperimentsProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "list-experiments",
		Title:     "list experiments (GET /apis/v2beta1/experiments)",
		DependsOn: []string{"token", "healthz"},
		// The request is fixed by the flags unless the namespace is one
		// filled in from the pod or context.json, which depends on the mode
		// healthz reports: then it waits. Otherwise it goes out with healthz,
		// and the list's answer is ready when healthz's is (on a
		// port-forward, each request costs a round trip of its own).
		Early: func(t *Target) bool { return t.Namespace != "" || t.FillNamespace == "" },
		Run: func(ctx context.Context, t *Target) probe.Result {
			ns := t.namespace()
			list, reply, err := t.Client.ListExperiments(ctx, kfp.V2beta1, ns)
			if list != nil {
				where := "(no namespace)"
				if ns != "" {
					where = "in namespace " + ns
				}
				n := list.TotalSize
				if n < len(list.Experiments) {
					n = len(list.Experiments)
				}
				res := probe.Passf(fmt.Sprintf("listed %d experiment(s) %s", n, where))
				res.Evidence = evidence(reply)
				return res
			}
			d, hint := t.attributeMesh(ctx, kfp.Classify(reply, err), reply, err)
			if d.KFD == kfd.NotKFP && reply != nil && reply.StatusCode == http.StatusNotFound {
				if l1, _, err1 := t.Client.ListExperiments(ctx, kfp.V1beta1, ns); err1 == nil && l1 != nil {
					d = kfp.Diagnosis{KFD: kfd.VersionMismatch, Summary: "v1beta1 lists experiments but v2beta1 is unknown: a KFP 1.x backend, which the v2 SDK cannot use"}
				}
			}
			// Inside a pod, the usual reason for sending nothing is a token
			// volume that is not there: say where to look.
			switch {
			case d.KFD == kfd.NoIdentity && t.SDK != nil && t.SDK.Unsent != nil:
				d.Summary += "; kfp.Client(host=…) without credentials= sends no token, though one is mounted (see unsent-token)"
			case d.KFD == kfd.NoIdentity && !t.hasCredentials() && t.InPod:
				d.Summary += "; this pod sends no token: no file at $KF_PIPELINES_SA_TOKEN_PATH or " + credentials.DefaultTokenPath +
					" (is the pod labelled access-ml-pipeline: \"true\", with a PodDefault in its namespace?)"
			}
			res := probe.Failed(d.KFD, d.Summary)
			res.Hint = hint
			res.Evidence = evidence(reply)
			return res
		},
	}
}

// CreateExperiment is the opt-in write check (--check-write).
const CreateExperiment = "create-experiment"

// createExperimentProbe does what a user does next on the same connection:
// kfp.Client.create_experiment in the namespace, then removes what it made.
// KFP asks its SubjectAccessReview for create (and delete) on experiments,
// which kubeflow-view does not grant: a read-only identity lists but fails
// here with KFD009.
func createExperimentProbe(random func() string) probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        CreateExperiment,
		Title:     "create an experiment and delete it again (POST, DELETE /apis/v2beta1/experiments), as create_experiment does",
		DependsOn: []string{"list-experiments"},
		Run: func(ctx context.Context, t *Target) probe.Result {
			ns := t.namespace()
			name := "kfp-doctor-check-" + random()
			e, reply, err := t.Client.CreateExperiment(ctx, ns, name, "made and deleted by kfp-doctor --check-write")
			if e == nil {
				d := kfp.Classify(reply, err)
				res := probe.Failed(d.KFD, "creating experiment "+name+": "+d.Summary)
				res.Evidence = evidence(reply)
				return res
			}
			dreply, derr := t.Client.DeleteExperiment(ctx, e.ExperimentID)
			if derr != nil || dreply.StatusCode != http.StatusOK {
				d := kfp.Classify(dreply, derr)
				res := probe.Warned(d.KFD, fmt.Sprintf("created experiment %s (id %s), but could not delete it: %s; delete it yourself", name, e.ExperimentID, d.Summary))
				res.Evidence = evidence(dreply)
				return res
			}
			where := "in namespace " + ns
			if ns == "" {
				where = "with no namespace (standalone KFP keeps every experiment in its own)"
			}
			res := probe.Passf(fmt.Sprintf("created and deleted experiment %s %s", name, where))
			res.Evidence = evidence(reply)
			return res
		},
	}
}

// WithWriteCheck adds the write check after the list.
func WithWriteCheck(set []probe.Probe[*Target], random func() string) []probe.Probe[*Target] {
	return append(set, createExperimentProbe(random))
}
