//go:build tools

// Package tools records the one program this module builds (tools/build.sh
// runs `go build github.com/dexidp/dex/cmd/dex` here).
package tools

import _ "github.com/dexidp/dex/cmd/dex"
