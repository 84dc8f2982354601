package doctor

// Scenarios --scenario accepts: KFP's deployment mode × where the client runs.
const (
	ScenarioAuto                   = "auto"
	ScenarioStandaloneInCluster    = "standalone-in-cluster"
	ScenarioStandaloneOutOfCluster = "standalone-out-of-cluster"
	ScenarioMultiUserInCluster     = "multi-user-in-cluster"
	ScenarioMultiUserOutOfCluster  = "multi-user-out-of-cluster"
)

type scenario struct {
	multiUser, modeKnown, inside bool
}

func (s scenario) String() string {
	mode := "unknown-mode"
	switch {
	case s.modeKnown && s.multiUser:
		mode = "multi-user"
	case s.modeKnown:
		mode = "standalone"
	}
	if s.inside {
		return mode + "-in-cluster"
	}
	return mode + "-out-of-cluster"
}

// parseScenario returns the forced scenario, or ok false for auto.
func parseScenario(v string) (s scenario, forced bool, err error) {
	switch v {
	case "", ScenarioAuto:
		return scenario{}, false, nil
	case ScenarioStandaloneInCluster:
		return scenario{modeKnown: true, inside: true}, true, nil
	case ScenarioStandaloneOutOfCluster:
		return scenario{modeKnown: true}, true, nil
	case ScenarioMultiUserInCluster:
		return scenario{multiUser: true, modeKnown: true, inside: true}, true, nil
	case ScenarioMultiUserOutOfCluster:
		return scenario{multiUser: true, modeKnown: true}, true, nil
	}
	return scenario{}, false, usage("--scenario %q: want auto, %s, %s, %s or %s", v,
		ScenarioStandaloneInCluster, ScenarioStandaloneOutOfCluster, ScenarioMultiUserInCluster, ScenarioMultiUserOutOfCluster)
}
