package programs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// OpenLDAP, the directory Dex's ldap connector binds against, for pods of
// the bitnami/openldap image (the one Kubeflow's LDAP examples use): Debian's
// slapd with its loader, libraries, back_mdb module and schemas, and as the
// entrypoint kfp-standin's openldap program, which configures slapd from the
// bitnami variables as that image's entrypoint does and execs it. The data
// directory and the numeric user are the bitnami image's.
func init() {
	register(Program{
		Name:  "openldap",
		Repos: []string{"docker.io/bitnami/openldap"},
		Tags:  []string{"2.6.10"},
		Config: static(Config{
			Entrypoint: []string{"/usr/local/bin/kfp-standin", "openldap"},
			Env:        []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin"},
			User:       "1001",
		}),
		Binary:   openldap.Debian.Slapd,
		Contents: openLDAPContents,
		Main:     openLDAPMain,
	})
}

func openLDAPContents(ctx context.Context, src Sources) (Contents, error) {
	standin, err := src.Go(ctx, StandinPackage)
	if err != nil {
		return Contents{}, err
	}
	d := openldap.Debian
	var modules []string
	for _, m := range openldap.Modules {
		modules = append(modules, filepath.Join(d.Modules, m+".so"))
	}
	files, err := images.HostFiles(append([]string{d.Slapd}, modules...)...)
	if err != nil {
		return Contents{}, fmt.Errorf("the openldap image: %w (install Debian's slapd: apt-get install slapd)", err)
	}
	// slapd picks the tool by the name it is called as; Debian links them.
	slapdDir, err := filepath.EvalSymlinks(filepath.Dir(d.Slapd))
	if err != nil {
		return Contents{}, err
	}
	if slapdDir != filepath.Dir(d.Slapd) {
		return Contents{}, fmt.Errorf("the openldap image: %s lives under a linked directory (%s); the image layout expects Debian's", d.Slapd, slapdDir)
	}
	files = append(files, images.File{Path: d.Slapadd, Link: filepath.Base(d.Slapd)})
	for _, s := range openldap.Schemas {
		files = append(files, images.File{Path: filepath.Join(d.Schemas, s+".schema"), Source: filepath.Join(d.Schemas, s+".schema")})
	}
	files = append(files,
		images.File{Path: "/usr/local/bin/kfp-standin", Source: standin},
		// The bitnami image's data directory, its user's.
		images.File{Path: "/bitnami/openldap", Dir: true, UID: 1001, GID: 1001},
		images.File{Path: "/tmp", Dir: true, Mode: 0o1777},
	)
	return Contents{Files: files, Labels: map[string]string{"org.opencontainers.image.version": "Debian slapd"}}, nil
}

// openLDAPMain is the image's entrypoint: it configures Debian's slapd from
// the bitnami variables, loads the LDIF files of LDAP_CUSTOM_LDIF_DIR (or
// the default tree), and execs slapd in the foreground on every address at
// LDAP_PORT_NUMBER, so slapd is the container's process and gets its
// signals.
func openLDAPMain(ctx context.Context, args []string, stderr io.Writer) error {
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
