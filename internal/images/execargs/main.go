// Command execargs is the entrypoint of our images whose upstream
// entrypoint is a wrapper that ends by running its arguments (see
// internal/programs/execargs).
package main

import (
	"os"

	"github.com/kfp-connect/kfp-connect/internal/programs/execargs"
)

func main() { os.Exit(execargs.Main(os.Args)) }
