// Package python holds the kfp-doctor Python package's sources, embedded so
// that a wheel can be written by any build of this module (hack/pywheel,
// the tests, the notebook image) from wherever it runs.
package python

import "embed"

// Files are the package (kfp_doctor/) and its README, the wheel's long
// description. Every module of the package is listed: a file left out
// fails TestEverythingEmbedded.
//
//go:embed README.md kfp_doctor/__init__.py kfp_doctor/__main__.py kfp_doctor/_api.py kfp_doctor/_binary.py kfp_doctor/_client.py kfp_doctor/_report.py kfp_doctor/py.typed
var Files embed.FS
