package all

import (
	"slices"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

func TestScenariosAreValid(t *testing.T) {
	names := map[string]bool{}
	for _, sc := range Scenarios() {
		if err := sc.Validate(); err != nil {
			t.Error(err)
		}
		if names[sc.Name] {
			t.Errorf("scenario %s declared twice", sc.Name)
		}
		names[sc.Name] = true
		// Every path must be exercised by at least one case, and every fault.
		used := map[string]bool{}
		for _, c := range sc.Cases {
			used["path:"+c.Path] = true
			used["fault:"+c.Fault] = true
		}
		for _, p := range sc.Paths {
			if !used["path:"+p.Name] {
				t.Errorf("%s: path %s has no case", sc.Name, p.Name)
			}
		}
		for _, f := range sc.Faults {
			if !used["fault:"+f.Name] {
				t.Errorf("%s: fault %s has no case", sc.Name, f.Name)
			}
		}
	}
	if len(names) != 4 {
		t.Fatalf("want the four documented scenarios, got %d", len(names))
	}
}

// What a case expects a probe to name is what the catalogue says that
// probe may name: the catalogue and the conformance cases agree.
func TestExpectationsAgreeWithTheCatalogue(t *testing.T) {
	for _, sc := range Scenarios() {
		for _, c := range sc.Cases {
			for _, n := range []struct {
				probe string
				id    kfd.ID
			}{{c.Expect.Probe, c.Expect.KFD}, {c.Expect.AlsoProbe, c.Expect.Also}} {
				if n.id == "" {
					continue
				}
				e, _ := kfd.Lookup(n.id)
				if !slices.Contains(e.Probes, n.probe) {
					t.Errorf("%s: %s expects %s from probe %s, which the catalogue does not list among its probes %v", sc.Name, c.Name(), n.id, n.probe, e.Probes)
				}
			}
		}
	}
}
