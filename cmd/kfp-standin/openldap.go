package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

func init() { register("openldap", openLDAP) }

// openLDAP is the entrypoint of our docker.io/bitnami/openldap image:
// it configures Debian's slapd from the bitnami variables, loads the LDIF
// files of LDAP_CUSTOM_LDIF_DIR (or the default tree), and execs slapd in
// the foreground on every address at LDAP_PORT_NUMBER, so slapd is the
// container's process and gets its signals.
func openLDAP(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("openldap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The bitnami image's data volume; writable by its user, 1001.
	dir := fs.String("dir", "/bitnami/openldap", "directory for slapd.conf and the database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := openldap.FromEnv(os.Getenv)
	ldifs, err := openldap.LDIFs(c.LDIFDir)
	if err != nil {
		return err
	}
	argv, err := c.Prepare(ctx, openldap.Debian, *dir, ldifs, "0.0.0.0:"+c.Port)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "openldap: %s loaded from %d LDIF file(s) of %s; exec %s on port %s\n", c.Root, len(ldifs), c.LDIFDir, argv[0], c.Port)
	return syscall.Exec(argv[0], argv, os.Environ())
}
