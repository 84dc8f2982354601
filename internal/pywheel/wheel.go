// Package pywheel writes the kfp-doctor Python wheels: a zip (PEP 427) of the
// kfp_doctor package (python/, standard library only) and the static
// kfp-doctor binary of one platform as a script, which pip puts on PATH, as
// ruff and uv ship theirs. No build backend, pip or network is involved:
// hack/pywheel (make wheels) writes a release's wheels with it, and the tests
// and the notebook image install the one for this machine.
package pywheel

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	kfpconnect "github.com/kfp-connect/kfp-connect"
	"github.com/kfp-connect/kfp-connect/python"
)

// Distribution is the Python distribution's name on PyPI and its
// normalised form in file names (PEP 427, PEP 503).
const (
	Distribution = "kfp-doctor"
	fileName     = "kfp_doctor"
	importName   = "kfp_doctor"
	scriptName   = "kfp-doctor"
)

// Platform is a Go target and the wheel platform tags a static binary of it
// runs on.
type Platform struct {
	GOOS, GOARCH string
	// Tags are the platform tags, most specific first. A static Go binary
	// (CGO_ENABLED=0) needs no libc: one Linux wheel serves glibc
	// (manylinux) and musl (musllinux, Alpine) alike. Go since 1.25 needs
	// macOS 12 Monterey.
	Tags []string
}

// Platforms are the release's kfp-doctor targets (.goreleaser.yaml).
var Platforms = []Platform{
	{"linux", "amd64", []string{"manylinux_2_17_x86_64", "manylinux2014_x86_64", "musllinux_1_1_x86_64"}},
	{"linux", "arm64", []string{"manylinux_2_17_aarch64", "manylinux2014_aarch64", "musllinux_1_1_aarch64"}},
	{"darwin", "amd64", []string{"macosx_12_0_x86_64"}},
	{"darwin", "arm64", []string{"macosx_12_0_arm64"}},
}

// FindPlatform returns the platform of a GOOS/GOARCH pair.
func FindPlatform(goos, goarch string) (Platform, bool) {
	for _, p := range Platforms {
		if p.GOOS == goos && p.GOARCH == goarch {
			return p, true
		}
	}
	return Platform{}, false
}

// Name is GOOS/GOARCH.
func (p Platform) Name() string { return p.GOOS + "/" + p.GOARCH }

// Tag is the wheel's compressed tag set: py3-none-<platforms joined by .>.
func (p Platform) Tag() string { return "py3-none-" + strings.Join(p.Tags, ".") }

// Wheel is what one wheel is built from.
type Wheel struct {
	Version  string // PEP 440
	Platform Platform
	// Binary is the static kfp-doctor for the platform.
	Binary []byte
	// Package is the Python package's files by name (kfp_doctor/…),
	// README the long description, License the licence text.
	Package map[string][]byte
	README  []byte
	License []byte
	// Time stamps every member: builds of the same inputs are identical.
	Time time.Time
}

// FileName is the wheel's file name (PEP 427).
func (w *Wheel) FileName() string {
	return fmt.Sprintf("%s-%s-%s.whl", fileName, w.Version, w.Platform.Tag())
}

func (w *Wheel) distInfo() string { return fmt.Sprintf("%s-%s.dist-info", fileName, w.Version) }

func (w *Wheel) metadata() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", Distribution, w.Version)
	b.WriteString("Summary: Tells a kfp.Client user which link to Kubeflow Pipelines is broken and how to fix it: diagnose(client) in a notebook, and the kfp-doctor command\n")
	b.WriteString("Home-page: https://github.com/kfp-connect/kfp-connect\n")
	b.WriteString("Project-URL: Documentation, https://github.com/kfp-connect/kfp-connect/blob/main/docs/python.md\n")
	b.WriteString("Project-URL: Source, https://github.com/kfp-connect/kfp-connect\n")
	b.WriteString("License: Apache-2.0\n")
	b.WriteString("Keywords: kubeflow,kfp,kubeflow-pipelines,diagnostics,kubernetes\n")
	for _, c := range []string{
		"Development Status :: 4 - Beta",
		"Environment :: Console",
		"Intended Audience :: Developers",
		"Intended Audience :: Science/Research",
		"Intended Audience :: System Administrators",
		"License :: OSI Approved :: Apache Software License",
		"Operating System :: MacOS",
		"Operating System :: POSIX :: Linux",
		"Programming Language :: Go",
		"Programming Language :: Python :: 3",
		"Topic :: System :: Systems Administration",
	} {
		b.WriteString("Classifier: " + c + "\n")
	}
	// The standard library only: it must install into any notebook image.
	b.WriteString("Requires-Python: >=3.8\n")
	b.WriteString("Description-Content-Type: text/markdown\n\n")
	b.Write(w.README)
	return []byte(b.String())
}

func (w *Wheel) wheelFile() []byte {
	var b strings.Builder
	b.WriteString("Wheel-Version: 1.0\nGenerator: kfp-connect hack/pywheel\nRoot-Is-Purelib: false\n")
	for _, t := range w.Platform.Tags {
		b.WriteString("Tag: py3-none-" + t + "\n")
	}
	return []byte(b.String())
}

type member struct {
	name string
	data []byte
	mode fs.FileMode
}

// Write writes the wheel (a zip, PEP 427): the package, the binary as a
// script (pip puts it on PATH, executable), the dist-info with RECORD last.
func (w *Wheel) Write(out io.Writer) error {
	if len(w.Binary) == 0 {
		return fmt.Errorf("%s: no binary", w.FileName())
	}
	if _, ok := w.Package[importName+"/__init__.py"]; !ok {
		return fmt.Errorf("%s: the package has no %s/__init__.py", w.FileName(), importName)
	}
	var members []member
	names := make([]string, 0, len(w.Package))
	for n := range w.Package {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		members = append(members, member{n, w.Package[n], 0o644})
	}
	members = append(members, member{fmt.Sprintf("%s-%s.data/scripts/%s", fileName, w.Version, scriptName), w.Binary, 0o755})
	di := w.distInfo()
	members = append(members,
		member{di + "/METADATA", w.metadata(), 0o644},
		member{di + "/WHEEL", w.wheelFile(), 0o644},
		member{di + "/LICENSE", w.License, 0o644},
	)
	var record bytes.Buffer
	for _, m := range members {
		sum := sha256.Sum256(m.data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", m.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(m.data))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", di)
	members = append(members, member{di + "/RECORD", record.Bytes(), 0o644})

	zw := zip.NewWriter(out)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: w.Time}
		h.SetMode(m.mode)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := f.Write(m.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// Package is what every wheel carries besides its binary: the kfp_doctor
// package's files by name (kfp_doctor/…), its README (the long
// description) and the repository's licence — embedded in this module.
func Package() (pkg map[string][]byte, readme, license []byte, err error) {
	pkg = map[string][]byte{}
	entries, err := fs.ReadDir(python.Files, importName)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(python.Files, path.Join(importName, e.Name()))
		if err != nil {
			return nil, nil, nil, err
		}
		pkg[path.Join(importName, e.Name())] = b
	}
	if readme, err = fs.ReadFile(python.Files, "README.md"); err != nil {
		return nil, nil, nil, err
	}
	return pkg, readme, kfpconnect.License, nil
}

var (
	// v1.2.3, v1.2.3-rc.1, and git describe's -N-gHASH and -dirty.
	semverTag = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-(alpha|beta|rc)\.?(\d+))?(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)
	bareHash  = regexp.MustCompile(`^([0-9a-f]{7,40})(-dirty)?$`)
)

// PEP440 turns the version `make build` stamps (git describe --tags
// --always --dirty) into a Python version: v1.2.3 → 1.2.3, v1.2.3-rc.1 →
// 1.2.3rc1, v1.2.3-4-gabc1234 → 1.2.3.post4+gabc1234, a bare commit →
// 0.0.0+gabc1234. Local versions (+…) install with pip; PyPI takes only
// the tags'.
func PEP440(v string) (string, error) {
	if m := semverTag.FindStringSubmatch(v); m != nil {
		out := m[1] + "." + m[2] + "." + m[3]
		if m[4] != "" {
			out += map[string]string{"alpha": "a", "beta": "b", "rc": "rc"}[m[4]] + m[5]
		}
		var local []string
		if m[6] != "" {
			out += ".post" + m[6]
			local = append(local, "g"+m[7])
		}
		if m[8] != "" {
			local = append(local, "dirty")
		}
		if len(local) > 0 {
			out += "+" + strings.Join(local, ".")
		}
		return out, nil
	}
	if m := bareHash.FindStringSubmatch(v); m != nil {
		out := "0.0.0+g" + m[1]
		if m[2] != "" {
			out += ".dirty"
		}
		return out, nil
	}
	if v == "dev" || v == "" {
		return "0.0.0+dev", nil
	}
	return "", fmt.Errorf("version %q: want a tag like v1.2.3 (or git describe's v1.2.3-4-gabc1234, or a commit)", v)
}
