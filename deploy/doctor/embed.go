// Package doctordeploy holds deploy/doctor's manifests for programs that
// apply them: the suites grant a doctor pod exactly the documented
// read-only ClusterRole (rbac.yaml) rather than a copy of it.
package doctordeploy

import _ "embed"

// RBAC is rbac.yaml: the kfp-doctor ServiceAccount, its ClusterRole and
// bindings for Kubeflow's example profile.
//
//go:embed rbac.yaml
var RBAC []byte
