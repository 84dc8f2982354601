package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// slapd is Debian's OpenLDAP server (package slapd; .ci/run installs it).
const (
	slapdBinary   = "/usr/sbin/slapd"
	slapaddBinary = "/usr/sbin/slapadd"
	slapdModules  = "/usr/lib/ldap"
	slapdSchemas  = "/etc/ldap/schema"
)

// OpenLDAP runs the LDAP directory that Dex's ldap connector binds against:
// pods of the bitnami/openldap image (the one Kubeflow's LDAP examples use)
// become a real slapd, configured from the container's env the way that
// image's entrypoint reads it — LDAP_ROOT (the suffix, default
// dc=example,dc=org), LDAP_ADMIN_USERNAME and LDAP_ADMIN_PASSWORD (the root
// DN cn=<user>,<root>), LDAP_CUSTOM_LDIF_DIR (LDIF files loaded in name
// order in place of the default tree), LDAP_PORT_NUMBER (1389). Only those
// are honoured; the image's other settings (TLS, replication, default
// users) are not.
func OpenLDAP() Program {
	return Program{
		Name:  "openldap",
		Match: imageIs("bitnami/openldap"),
		Exec: &Exec{
			Binary:  slapdBinary,
			Listen:  func(args []string, _ map[int32]string) []string { return args },
			Prepare: prepareSlapd,
		},
	}
}

func prepareSlapd(ctx context.Context, p *Proc) error {
	get := func(k, def string) string {
		if v := strings.TrimSpace(p.Env[k]); v != "" {
			return v
		}
		return def
	}
	root := get("LDAP_ROOT", "dc=example,dc=org")
	admin := get("LDAP_ADMIN_USERNAME", "admin")
	password := get("LDAP_ADMIN_PASSWORD", "adminpassword")
	port := get("LDAP_PORT_NUMBER", "1389")
	var addr string
	for cp, a := range p.Addrs {
		if fmt.Sprint(cp) == port || addr == "" {
			addr = a
		}
	}
	if addr == "" {
		return fmt.Errorf("the container declares no port for LDAP_PORT_NUMBER %s", port)
	}
	for _, f := range []string{slapdBinary, slapaddBinary, filepath.Join(slapdSchemas, "inetorgperson.schema")} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s is missing: install Debian's slapd (apt-get install slapd ldap-utils; .ci/run does)", f)
		}
	}
	db := filepath.Join(p.Dir, "ldap-db")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(p.Dir, "slapd.conf")
	var c strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&c, "include %s/%s.schema\n", slapdSchemas, s)
	}
	fmt.Fprintf(&c, "pidfile %s\nmodulepath %s\nmoduleload back_mdb\n", filepath.Join(p.Dir, "slapd.pid"), slapdModules)
	// maxsize keeps the memory map small: a lab directory holds a few entries.
	fmt.Fprintf(&c, "database mdb\nmaxsize 16777216\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n",
		root, "cn="+admin+","+root, password, db)
	if err := os.WriteFile(conf, []byte(c.String()), 0o600); err != nil {
		return err
	}
	ldifs, err := customLDIFs(p, get("LDAP_CUSTOM_LDIF_DIR", "/ldifs"))
	if err != nil {
		return err
	}
	if len(ldifs) == 0 {
		base := filepath.Join(p.Dir, "base.ldif")
		dc := strings.TrimPrefix(strings.SplitN(root, ",", 2)[0], "dc=")
		if err := os.WriteFile(base, []byte(fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n", root, dc, dc)), 0o600); err != nil {
			return err
		}
		ldifs = []string{base}
	}
	for _, l := range ldifs {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(actx, slapaddBinary, "-f", conf, "-l", l).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("slapadd %s: %v: %s", filepath.Base(l), err, strings.TrimSpace(string(out)))
		}
	}
	// -d keeps slapd in the foreground, where the runtime can stop it.
	p.Args = []string{slapdBinary, "-d", "0", "-h", "ldap://" + addr + "/", "-f", conf}
	return nil
}

// customLDIFs are the *.ldif files of the mounted LDIF directory, in name
// order, as the image's entrypoint loads them.
func customLDIFs(p *Proc, dir string) ([]string, error) {
	// The env was re-rooted already; a path not under the pod's directory
	// is not mounted, and must not be read from this machine.
	host := p.HostPath(dir)
	if !strings.HasPrefix(host, p.Dir+string(filepath.Separator)) {
		return nil, nil
	}
	entries, err := os.ReadDir(host)
	if err != nil {
		return nil, fmt.Errorf("LDAP_CUSTOM_LDIF_DIR %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".ldif") {
			out = append(out, filepath.Join(host, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
