// Package plan turns the scenarios into the cases of a run: which are
// selected (--scenario, --test), which change the install (and are skipped
// unless the run is disruptive), which need real pod networking, each with
// the reason it does not run. It is data in, data out: no cluster.
package plan

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kfp-connect/kfp-connect/scenarios"
)

// DisruptiveSkip is why a case that changes the install does not run
// unless the run is allowed to change it.
const DisruptiveSkip = "disruptive: changes the install; run with --disruptive"

// Selection picks the scenarios and cases of a run.
type Selection struct {
	// Scenarios are scenario names ("multi-user/in-cluster"); none is all.
	Scenarios []string
	// Test, when set, keeps the cases whose FullName it matches.
	Test *regexp.Regexp
}

// Options say what the cluster of a run may be and do.
type Options struct {
	// Disruptive runs the cases that change the install (cluster-side
	// faults and paths with an install variant); without it they are
	// skipped with DisruptiveSkip.
	Disruptive bool
	// PodNetwork is true on a provider whose pod IPs are real, where the
	// paths through the kube-apiserver's service proxy can run.
	PodNetwork bool
}

// Case is one case of a run, classified.
type Case struct {
	Scenario *scenarios.Scenario
	Case     scenarios.Case
	// Disruptive is true when the case changes the install; Changes says how.
	Disruptive bool
	Changes    string
	// Skip, when set, is why the case does not run.
	Skip string
}

// FullName is what --test matches and reports show: "scenario: path × fault".
func (p Case) FullName() string { return FullName(p.Scenario, p.Case) }

// FullName names a case of a scenario.
func FullName(sc *scenarios.Scenario, c scenarios.Case) string { return sc.Name + ": " + c.Name() }

// Scenario is one scenario's selected cases, in declaration order.
type Scenario struct {
	Scenario *scenarios.Scenario
	Cases    []Case
}

// Runnable reports whether any case of the scenario would run, so a run
// prepares no cluster for a scenario that is all skips.
func (s Scenario) Runnable() bool {
	return slices.ContainsFunc(s.Cases, func(p Case) bool { return p.Skip == "" })
}

// Classify says whether a case changes the install, and how: a fault that
// deletes, scales or re-configures an object of it, or a path that needs a
// variant of the install. Faults that live in the client (Fault.Client) and
// the paths themselves only create the run's own objects.
func Classify(sc *scenarios.Scenario, c scenarios.Case) (disruptive bool, changes string) {
	var what []string
	if p, ok := sc.Path(c.Path); ok && p.Install != nil {
		what = append(what, "installs the variant "+p.Install.Name+" ("+describeChange(*p.Install)+")")
	}
	if c.Fault != "" {
		if f, ok := sc.Fault(c.Fault); ok && f.Client == nil {
			what = append(what, describeChange(f))
		}
	}
	return len(what) > 0, strings.Join(what, "; ")
}

// describeChange says what a cluster-side fault does to the install.
func describeChange(f scenarios.Fault) string {
	switch {
	case f.Delete != nil:
		return fmt.Sprintf("deletes %s %s/%s", f.Delete.Kind, f.Delete.Namespace, f.Delete.Name)
	case f.Scale != nil:
		return fmt.Sprintf("scales deployment %s/%s to %d", f.Scale.Namespace, f.Scale.Deployment, f.Scale.Replicas)
	case f.SetEnv != nil:
		return fmt.Sprintf("sets %s on deployment %s/%s", f.SetEnv.Name, f.SetEnv.Namespace, f.SetEnv.Deployment)
	case f.EditConfig != nil:
		return fmt.Sprintf("edits configmap %s/%s and restarts %s", f.EditConfig.Namespace, f.EditConfig.ConfigMap, f.EditConfig.Restart)
	}
	return "changes the client only"
}

// PodNetworkSkip is why a path through the kube-apiserver's service proxy
// does not run on a provider with fake pod IPs.
const PodNetworkSkip = "the kube-apiserver's service proxy dials the pod's IP itself: this path needs a provider with real pod networking (`node`); on kwok it would send traffic off the machine"

// Make selects and classifies the cases of all. A --scenario naming no
// scenario and a --test matching no case are errors: a run that silently
// does nothing would read as green.
func Make(all []*scenarios.Scenario, sel Selection, opts Options) ([]Scenario, error) {
	var plans []Scenario
	for _, name := range sel.Scenarios {
		if !slices.ContainsFunc(all, func(sc *scenarios.Scenario) bool { return sc.Name == name }) {
			return nil, fmt.Errorf("no scenario %q: want one of %s", name, strings.Join(Names(all), ", "))
		}
	}
	matched := 0
	for _, sc := range all {
		if len(sel.Scenarios) > 0 && !slices.Contains(sel.Scenarios, sc.Name) {
			continue
		}
		if err := sc.Validate(); err != nil {
			return nil, err
		}
		sp := Scenario{Scenario: sc}
		for _, c := range sc.Cases {
			p := Case{Scenario: sc, Case: c}
			if sel.Test != nil && !sel.Test.MatchString(p.FullName()) {
				continue
			}
			p.Disruptive, p.Changes = Classify(sc, c)
			path, _ := sc.Path(c.Path)
			switch {
			case c.Pending != "":
				p.Skip = "pending: " + c.Pending
			case path.NeedsPodNetwork() && !opts.PodNetwork:
				p.Skip = PodNetworkSkip
			case p.Disruptive && !opts.Disruptive:
				p.Skip = DisruptiveSkip + " (" + p.Changes + ")"
			}
			sp.Cases = append(sp.Cases, p)
		}
		matched += len(sp.Cases)
		if len(sp.Cases) > 0 {
			plans = append(plans, sp)
		}
	}
	if matched == 0 {
		if sel.Test == nil {
			return nil, fmt.Errorf("the scenarios %v declare no case", sel.Scenarios)
		}
		example := ""
		if len(all) > 0 && len(all[0].Cases) > 0 {
			example = fmt.Sprintf(" (names look like %q)", FullName(all[0], all[0].Cases[0]))
		}
		return nil, fmt.Errorf("--test %q matches no case of the scenarios selected%s", sel.Test, example)
	}
	return plans, nil
}

// Names lists the scenarios' names.
func Names(all []*scenarios.Scenario) []string {
	names := make([]string, len(all))
	for i, sc := range all {
		names[i] = sc.Name
	}
	return names
}
