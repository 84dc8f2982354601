// The image ghcr.io/kubeflow/kfp-frontend runs this program.

package main

import standins "github.com/kfp-connect/kfp-connect/internal/standin/programs"

func init() { register(standins.UI.Name, httpProgram(standins.UI)) }
