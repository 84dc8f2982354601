package openldap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromEnvDefaults(t *testing.T) {
	c := FromEnv(func(string) string { return "" })
	want := Config{Root: "dc=example,dc=org", Admin: "admin", Password: "adminpassword", Port: "1389", LDIFDir: "/ldifs"}
	if c != want {
		t.Errorf("defaults %+v, want bitnami's %+v", c, want)
	}
	env := map[string]string{"LDAP_ROOT": "dc=kf,dc=io", "LDAP_ADMIN_USERNAME": "boss", "LDAP_PORT_NUMBER": " 2389 "}
	c = FromEnv(func(k string) string { return env[k] })
	if c.RootDN() != "cn=boss,dc=kf,dc=io" || c.Port != "2389" {
		t.Errorf("root DN %q port %q", c.RootDN(), c.Port)
	}
}

func TestLDIFs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"20-b.ldif", "10-a.ldif", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A ConfigMap volume's entries are symlinks.
	if err := os.Symlink(filepath.Join(dir, "10-a.ldif"), filepath.Join(dir, "30-link.ldif")); err != nil {
		t.Fatal(err)
	}
	got, err := LDIFs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, filepath.Base(g))
	}
	if strings.Join(names, ",") != "10-a.ldif,20-b.ldif,30-link.ldif" {
		t.Errorf("LDIFs = %v", names)
	}
	if got, err := LDIFs(filepath.Join(dir, "absent")); err != nil || got != nil {
		t.Errorf("absent dir: %v, %v; want none, no error", got, err)
	}
}

// TestPrepareLoadsTheTree runs Debian's slapadd on the configuration and
// reads the database back with slapcat: the entries must be there.
func TestPrepareLoadsTheTree(t *testing.T) {
	if _, err := os.Stat(Debian.Slapd); err != nil {
		t.Skipf("Debian's slapd is not installed (%v): apt-get install slapd", err)
	}
	dir := t.TempDir()
	ldif := filepath.Join(dir, "users.ldif")
	if err := os.WriteFile(ldif, []byte("dn: dc=kf,dc=io\nobjectClass: dcObject\nobjectClass: organization\ndc: kf\no: kf\n\n"+
		"dn: uid=u,dc=kf,dc=io\nobjectClass: inetOrgPerson\nuid: u\ncn: U\nsn: U\nmail: u@kf.io\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Root: "dc=kf,dc=io", Admin: "admin", Password: "pw", Port: "1389"}
	for _, tc := range []struct {
		name  string
		ldifs []string
		want  []string
	}{
		{"custom LDIF", []string{ldif}, []string{"dn: dc=kf,dc=io", "dn: uid=u,dc=kf,dc=io"}},
		{"default tree", nil, []string{"dn: dc=kf,dc=io"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			args, err := c.Prepare(context.Background(), Debian, work, tc.ldifs, "0.0.0.0:1389")
			if err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(work, "slapd.conf")
			if want := []string{Debian.Slapd, "-d", "0", "-h", "ldap://0.0.0.0:1389/", "-f", conf}; strings.Join(args, " ") != strings.Join(want, " ") {
				t.Errorf("args %v, want %v", args, want)
			}
			if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("slapd.conf: %v, mode %v; it holds the root password", err, fi.Mode())
			}
			out, err := exec.Command("/usr/sbin/slapcat", "-f", conf).CombinedOutput()
			if err != nil {
				t.Fatalf("slapcat: %v: %s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w+"\n") {
					t.Errorf("database lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
