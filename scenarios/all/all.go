// Package all lists the four scenarios, in the order the suite runs them.
package all

import (
	"github.com/kfp-connect/kfp-connect/scenarios"
	mi "github.com/kfp-connect/kfp-connect/scenarios/multiuser/incluster"
	mo "github.com/kfp-connect/kfp-connect/scenarios/multiuser/outcluster"
	si "github.com/kfp-connect/kfp-connect/scenarios/standalone/incluster"
	so "github.com/kfp-connect/kfp-connect/scenarios/standalone/outcluster"
)

// Scenarios returns every scenario.
func Scenarios() []*scenarios.Scenario {
	return []*scenarios.Scenario{&si.Scenario, &so.Scenario, &mi.Scenario, &mo.Scenario}
}
