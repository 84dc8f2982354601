// The image docker.io/istio/proxyv2 (Kubeflow's ingress gateway) runs this program.

package main

import standins "github.com/kfp-connect/kfp-connect/internal/standin/programs"

func init() { register(standins.Gateway.Name, httpProgram(standins.Gateway)) }
