// Package kindconfigs holds one kind cluster configuration per KFP deployment
// shape, embedded so the kind provider and its tests read the same bytes.
package kindconfigs

import "embed"

// FS holds every *.yaml file of this directory.
//
//go:embed *.yaml
var FS embed.FS
