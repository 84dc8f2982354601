package kind

import (
	"bytes"
	"errors"
	"fmt"
	"net"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// ParseConfig decodes a kind cluster configuration the way kind's own
// loader does and checks what kind would reject at create time.
//
// kind's loader and validator live under sigs.k8s.io/kind/pkg/internal, and
// the public path to them (cluster.Provider.Create with CreateWithConfigFile)
// decodes only on the way to creating containers. So this repeats the loader's
// public half exactly — go.yaml.in/yaml/v3 with unknown fields rejected into
// v1alpha4.Cluster, then v1alpha4.SetDefaultsCluster — and checks the rules of
// its validator that a hand-written file can break.
func ParseConfig(data []byte) (*v1alpha4.Cluster, error) {
	var tm struct {
		Kind       string `yaml:"kind"`
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("reading kind/apiVersion: %w", err)
	}
	if tm.APIVersion != "kind.x-k8s.io/v1alpha4" || tm.Kind != "Cluster" {
		return nil, fmt.Errorf("want kind Cluster of apiVersion kind.x-k8s.io/v1alpha4, got %q %q", tm.Kind, tm.APIVersion)
	}
	cfg := &v1alpha4.Cluster{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decoding kind configuration: %w", err)
	}
	v1alpha4.SetDefaultsCluster(cfg)
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func validateConfig(cfg *v1alpha4.Cluster) error {
	var errs []error
	controlPlanes := 0
	for i, n := range cfg.Nodes {
		switch n.Role {
		case v1alpha4.ControlPlaneRole:
			controlPlanes++
		case v1alpha4.WorkerRole:
		default:
			errs = append(errs, fmt.Errorf("node %d: %q is not a valid role", i, n.Role))
		}
		if n.Image == "" {
			errs = append(errs, fmt.Errorf("node %d: no image", i))
		}
		if err := checkPortMappings(n.ExtraPortMappings); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", i, err))
		}
	}
	if controlPlanes == 0 {
		errs = append(errs, errors.New("at least one control-plane node is required"))
	}
	return errors.Join(errs...)
}

// checkPortMappings rejects ports out of range, unparsable listen addresses,
// and two mappings that would bind the same host address, port and protocol
// (a wildcard address conflicts with every address).
func checkPortMappings(pms []v1alpha4.PortMapping) error {
	inRange := func(p int32) bool { return p >= -1 && p <= 65535 }
	bound := map[string][]net.IP{} // "port/protocol" → listen addresses
	for _, pm := range pms {
		if !inRange(pm.HostPort) || !inRange(pm.ContainerPort) {
			return fmt.Errorf("port mapping %d→%d: ports must be in -1..65535", pm.ContainerPort, pm.HostPort)
		}
		addr := net.IPv4zero
		if pm.ListenAddress != "" {
			if addr = net.ParseIP(pm.ListenAddress); addr == nil {
				return fmt.Errorf("port mapping %d→%d: invalid listen address %q", pm.ContainerPort, pm.HostPort, pm.ListenAddress)
			}
		}
		if pm.HostPort <= 0 {
			continue // kind or the runtime picks a free port: no clash possible
		}
		key := fmt.Sprintf("%d/%s", pm.HostPort, pm.Protocol)
		for _, other := range bound[key] {
			if other.Equal(addr) || other.IsUnspecified() || addr.IsUnspecified() {
				return fmt.Errorf("port mapping %d→%s:%s bound twice", pm.ContainerPort, addr, key)
			}
		}
		bound[key] = append(bound[key], addr)
	}
	return nil
}
