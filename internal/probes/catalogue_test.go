package probes

import (
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// AllIDs are the ids of every probe the doctor may run, and of the run's
// conclusion.
func allIDs() map[string]bool {
	sets := [][]probe.Probe[*Target]{
		OnCluster(true, true),
		WithLogin(&Login{}, nil),
		WithWriteCheck(nil, func() string { return "" }),
		WithDistribution(nil),
		{sdkProbe(), unsentTokenProbe()},
	}
	out := map[string]bool{probe.ConclusionID: true}
	for _, set := range sets {
		for _, p := range set {
			out[p.ID] = true
		}
	}
	return out
}

// The catalogue names, for every id, the probes that may name it: they are
// probes the doctor has.
func TestCatalogueNamesRealProbes(t *testing.T) {
	ids := allIDs()
	for _, e := range kfd.All() {
		for _, p := range e.Probes {
			if !ids[p] {
				t.Errorf("%s lists probe %q, which the doctor does not have (it has %v)", e.ID, p, ids)
			}
		}
	}
}
