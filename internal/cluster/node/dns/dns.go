// Package dns holds the manifests of the node cluster's kube-dns
// (CoreDNS at the kubelet's clusterDNS address, 10.96.0.10).
package dns

import "embed"

// Manifests is coredns.yaml.
//
//go:embed coredns.yaml
var Manifests embed.FS

// Image is the tag of the CoreDNS image the node cluster builds from the
// pinned binary; coredns.yaml names it.
const Image = "kfpc.local/coredns:1.15.0"
