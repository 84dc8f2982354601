//go:build !unix

package discover

import (
	"context"

	"k8s.io/client-go/rest"
)

// runExecPlugin leaves the plugin to client-go where process groups do not
// exist.
func runExecPlugin(context.Context, *rest.Config) error { return nil }
