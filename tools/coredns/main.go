// Command coredns is CoreDNS with only the plugins the node cluster's
// kube-dns needs (errors, log, health, ready, kubernetes, cache,
// loadbalance), which keeps its build to a few minutes on 2 cores.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives are these plugins in CoreDNS's own order (its plugin.cfg),
// which decides the order a query passes them in.
var directives = []string{"ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
