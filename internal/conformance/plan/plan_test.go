package plan

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/scenarios"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
	"github.com/kfp-connect/kfp-connect/scenarios/clientfault"
)

// The non-destructive plan's promise, checked over the real matrix: no
// case left to run changes the install — its fault is the client's or none,
// and its path has no install variant — and every case that is skipped for
// it says so with the fix.
func TestNonDestructivePlanLeavesTheInstallAlone(t *testing.T) {
	plans, err := Make(all.Scenarios(), Selection{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, skippedDisruptive := 0, 0
	for _, sp := range plans {
		for _, p := range sp.Cases {
			path, _ := sp.Scenario.Path(p.Case.Path)
			f, _ := sp.Scenario.Fault(p.Case.Fault)
			changes := path.Install != nil || (p.Case.Fault != "" && f.Client == nil)
			if changes != p.Disruptive {
				t.Errorf("%s: classified disruptive=%t, but it changes the install: %t", p.FullName(), p.Disruptive, changes)
			}
			switch {
			case p.Skip == "":
				run++
				if changes {
					t.Errorf("%s runs without --disruptive but changes the install", p.FullName())
				}
			case changes:
				skippedDisruptive++
				if !strings.HasPrefix(p.Skip, DisruptiveSkip) {
					t.Errorf("%s skipped with %q, want the reason %q", p.FullName(), p.Skip, DisruptiveSkip)
				}
			}
		}
	}
	// Both kinds exist in the matrix; a classification that put every case
	// on one side would pass the loop above.
	if run == 0 || skippedDisruptive == 0 {
		t.Fatalf("%d cases run, %d skipped as disruptive: want some of each", run, skippedDisruptive)
	}
}

func TestClassify(t *testing.T) {
	sc := &scenarios.Scenario{
		Name: "s", Mode: kubeflow.MultiUser, Location: scenarios.OutOfCluster,
		Paths: []scenarios.Path{
			{Name: "plain"},
			{Name: "variant", Install: &scenarios.Fault{Name: "short", EditConfig: &scenarios.EditConfig{Namespace: "auth", ConfigMap: "dex", Restart: "dex"}}},
		},
		Faults: []scenarios.Fault{
			{Name: "no-token", Client: clientfault.NoCredentials()},
			{Name: "no-rb", Delete: &scenarios.ObjectRef{Kind: "RoleBinding", Namespace: "ns", Name: "rb"}},
			{Name: "down", Scale: &scenarios.Scale{Namespace: "kubeflow", Deployment: "ml-pipeline"}},
		},
	}
	rows := []struct {
		c       scenarios.Case
		want    bool
		changes string
	}{
		{scenarios.Case{Path: "plain"}, false, ""},
		{scenarios.Case{Path: "plain", Fault: "no-token"}, false, ""},
		{scenarios.Case{Path: "plain", Fault: "no-rb"}, true, "deletes RoleBinding ns/rb"},
		{scenarios.Case{Path: "plain", Fault: "down"}, true, "scales deployment kubeflow/ml-pipeline to 0"},
		{scenarios.Case{Path: "variant"}, true, "installs the variant short (edits configmap auth/dex and restarts dex)"},
		{scenarios.Case{Path: "variant", Fault: "no-token"}, true, "installs the variant short"},
	}
	for _, r := range rows {
		got, changes := Classify(sc, r.c)
		if got != r.want || !strings.Contains(changes, r.changes) {
			t.Errorf("%s: disruptive=%t (%q), want %t (%q)", r.c.Name(), got, changes, r.want, r.changes)
		}
	}
}

func TestPlanSelection(t *testing.T) {
	scs := all.Scenarios()
	t.Run("a scenario", func(t *testing.T) {
		plans, err := Make(scs, Selection{Scenarios: []string{"multi-user/out-of-cluster"}}, Options{Disruptive: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(plans) != 1 || plans[0].Scenario.Name != "multi-user/out-of-cluster" || len(plans[0].Cases) != len(plans[0].Scenario.Cases) {
			t.Fatalf("got %d plans", len(plans))
		}
	})
	t.Run("a pattern across scenarios", func(t *testing.T) {
		plans, err := Make(scs, Selection{Test: regexp.MustCompile(`× wrong-audience$`)}, Options{Disruptive: true})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sp := range plans {
			for _, p := range sp.Cases {
				n++
				if p.Case.Fault != "wrong-audience" {
					t.Errorf("selected %s", p.FullName())
				}
			}
		}
		if n < 2 {
			t.Fatalf("selected %d cases, want the wrong-audience case of more than one scenario", n)
		}
	})
	t.Run("the service proxy needs pod networking", func(t *testing.T) {
		for _, podNetwork := range []bool{false, true} {
			plans, err := Make(scs, Selection{Test: regexp.MustCompile(`: service-proxy$`)}, Options{Disruptive: true, PodNetwork: podNetwork})
			if err != nil {
				t.Fatal(err)
			}
			if skip := plans[0].Cases[0].Skip; (skip == PodNetworkSkip) == podNetwork {
				t.Errorf("PodNetwork=%t: skip %q", podNetwork, skip)
			}
		}
	})
	for name, sel := range map[string]Selection{
		"no such scenario":     {Scenarios: []string{"multi-user"}},
		"a pattern of nothing": {Test: regexp.MustCompile(`no case is called this`)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Make(scs, sel, Options{}); err == nil {
				t.Fatal("no error: a run that selects nothing would read as green")
			}
		})
	}
}
