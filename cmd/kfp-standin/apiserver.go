// The image ghcr.io/kubeflow/kfp-api-server runs this program.

package main

import standins "github.com/kfp-connect/kfp-connect/internal/standin/programs"

func init() { register(standins.APIServer.Name, httpProgram(standins.APIServer)) }
