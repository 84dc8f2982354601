package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// OpenLDAP runs the LDAP directory that Dex's ldap connector binds against:
// pods of the bitnami/openldap image (the one Kubeflow's LDAP examples use)
// become a real slapd, configured from the container's env the way that
// image's entrypoint reads it (internal/standin/openldap says which
// variables; our image of it on a node cluster shares that code).
func OpenLDAP() Program {
	return Program{
		Name:  "openldap",
		Match: imageIs("bitnami/openldap"),
		Exec: &Exec{
			Binary:  openldap.Debian.Slapd,
			Listen:  func(args []string, _ map[int32]string) []string { return args },
			Prepare: prepareSlapd,
		},
	}
}

func prepareSlapd(ctx context.Context, p *Proc) error {
	c := openldap.FromEnv(func(k string) string { return p.Env[k] })
	var addr string
	for cp, a := range p.Addrs {
		if fmt.Sprint(cp) == c.Port || addr == "" {
			addr = a
		}
	}
	if addr == "" {
		return fmt.Errorf("the container declares no port for LDAP_PORT_NUMBER %s", c.Port)
	}
	var ldifs []string
	// The env was re-rooted already; a path not under the pod's directory
	// is not mounted, and must not be read from this machine.
	if host := p.HostPath(c.LDIFDir); strings.HasPrefix(host, p.Dir+string(filepath.Separator)) {
		var err error
		if ldifs, err = openldap.LDIFs(host); err != nil {
			return err
		}
	}
	args, err := c.Prepare(ctx, openldap.Debian, p.Dir, ldifs, addr)
	if err != nil {
		return err
	}
	p.Args = args
	return nil
}
