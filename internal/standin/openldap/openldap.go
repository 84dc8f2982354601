// Package openldap configures Debian's slapd the way the bitnami/openldap
// image's entrypoint does from its environment, for the two places the
// project runs that image's pods: as a process on kwok (internal/lab) and as
// the entrypoint of our own image of it on a node cluster
// (cmd/kfp-standin's openldap program). Honoured: LDAP_ROOT (the suffix,
// default dc=example,dc=org), LDAP_ADMIN_USERNAME and LDAP_ADMIN_PASSWORD
// (the root DN cn=<user>,<root>), LDAP_CUSTOM_LDIF_DIR (LDIF files loaded in
// name order in place of the default tree, default /ldifs) and
// LDAP_PORT_NUMBER (1389). The image's other settings (TLS, replication,
// default users) are not.
package openldap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Paths are where slapd and its files are: Debian's layout, on the host
// and in our image alike.
type Paths struct {
	Slapd, Slapadd, Modules, Schemas string
}

// Debian is Debian's slapd package's layout.
var Debian = Paths{
	Slapd:   "/usr/sbin/slapd",
	Slapadd: "/usr/sbin/slapadd",
	Modules: "/usr/lib/ldap",
	Schemas: "/etc/ldap/schema",
}

// Schemas are the schema files the configuration includes, in order.
var Schemas = []string{"core", "cosine", "inetorgperson", "nis"}

// Modules are the slapd modules the configuration loads.
var Modules = []string{"back_mdb"}

// Config is what the bitnami image's environment says.
type Config struct {
	Root, Admin, Password, Port, LDIFDir string
}

// FromEnv reads the bitnami variables, with that image's defaults for the
// unset or blank ones.
func FromEnv(getenv func(string) string) Config {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	return Config{
		Root:     get("LDAP_ROOT", "dc=example,dc=org"),
		Admin:    get("LDAP_ADMIN_USERNAME", "admin"),
		Password: get("LDAP_ADMIN_PASSWORD", "adminpassword"),
		Port:     get("LDAP_PORT_NUMBER", "1389"),
		LDIFDir:  get("LDAP_CUSTOM_LDIF_DIR", "/ldifs"),
	}
}

// RootDN is the directory's administrator.
func (c Config) RootDN() string { return "cn=" + c.Admin + "," + c.Root }

// SlapdConf is slapd.conf for a database in dir, with the schemas and
// modules of p.
func (c Config) SlapdConf(p Paths, dir string) string {
	var b strings.Builder
	for _, s := range Schemas {
		fmt.Fprintf(&b, "include %s/%s.schema\n", p.Schemas, s)
	}
	fmt.Fprintf(&b, "pidfile %s\nmodulepath %s\n", filepath.Join(dir, "slapd.pid"), p.Modules)
	for _, m := range Modules {
		fmt.Fprintf(&b, "moduleload %s\n", m)
	}
	// maxsize keeps the memory map small: these directories hold a few entries.
	fmt.Fprintf(&b, "database mdb\nmaxsize 16777216\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n",
		c.Root, c.RootDN(), c.Password, filepath.Join(dir, "ldap-db"))
	return b.String()
}

// baseLDIF is the tree the image creates when no custom LDIF is given.
func (c Config) baseLDIF() string {
	dc := strings.TrimPrefix(strings.SplitN(c.Root, ",", 2)[0], "dc=")
	return fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n", c.Root, dc, dc)
}

// LDIFs are the *.ldif files of dir in name order, as the image loads
// them; none when dir does not exist (nothing is mounted there).
func LDIFs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("LDAP_CUSTOM_LDIF_DIR %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		// A ConfigMap volume's files are symlinks into ..data: follow them.
		if strings.HasSuffix(e.Name(), ".ldif") && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Prepare writes slapd.conf and the database under dir, loads ldifs (or the
// default tree when there are none) with slapadd, and returns slapd's
// command line serving ldap:// on listen (host:port; an empty host is every
// address), in the foreground.
func (c Config) Prepare(ctx context.Context, p Paths, dir string, ldifs []string, listen string) ([]string, error) {
	for _, f := range []string{p.Slapd, p.Slapadd, filepath.Join(p.Schemas, "inetorgperson.schema")} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s is missing: install Debian's slapd (apt-get install slapd ldap-utils; .ci/run does)", f)
		}
	}
	// Afresh each time: a restarted container keeps its files, and slapadd
	// refuses entries that exist.
	if err := os.RemoveAll(filepath.Join(dir, "ldap-db")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "ldap-db"), 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "slapd.conf")
	// 0600: it holds the root password.
	if err := os.WriteFile(conf, []byte(c.SlapdConf(p, dir)), 0o600); err != nil {
		return nil, err
	}
	if len(ldifs) == 0 {
		base := filepath.Join(dir, "base.ldif")
		if err := os.WriteFile(base, []byte(c.baseLDIF()), 0o600); err != nil {
			return nil, err
		}
		ldifs = []string{base}
	}
	for _, l := range ldifs {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(actx, p.Slapadd, "-f", conf, "-l", l).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("slapadd %s: %v: %s", filepath.Base(l), err, strings.TrimSpace(string(out)))
		}
	}
	// -d keeps slapd in the foreground, where the runtime can stop it.
	return []string{p.Slapd, "-d", "0", "-h", "ldap://" + listen + "/", "-f", conf}, nil
}
