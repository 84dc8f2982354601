// Package kfpconnect holds what belongs to the whole repository: its
// licence, which every artefact built from it carries (the Python wheels'
// dist-info).
package kfpconnect

import _ "embed"

// License is the repository's licence, Apache-2.0.
//
//go:embed LICENSE
var License []byte
