package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of an Image's layer: a regular file (from Source on
// disk, or Data), a symbolic link (Link), or a directory (Dir).
type File struct {
	Path   string // absolute, clean
	Source string // a file on disk whose contents are copied (symlinks followed)
	Data   []byte // the contents, when Source is empty
	Link   string // the target of a symbolic link
	Dir    bool
	// Mode is the permission bits; zero is 0755 for directories and
	// executables (ELF or a Source with an execute bit), else 0644.
	Mode     int64
	UID, GID int
}

// Image is an image of several files, for programs that are more than one
// static binary (a dynamically linked server with its libraries, a binary
// that must sit at a fixed path with others beside it). It is written as
// one layer on an empty base, like WriteArchive's.
type Image struct {
	// Refs are the tags the archive carries: the one the manifests use
	// first, then any other they use for the same program.
	Refs       []string
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string // PATH=/usr/local/bin:/usr/bin:/bin when empty
	User       string   // "uid" or "uid:gid", as the upstream image has it
	WorkingDir string
	Labels     map[string]string
}

// WriteImage writes img as a docker archive at dest. It refuses an image in
// which an ELF file could not start: a missing program interpreter, or a
// shared library it needs that is not in the image (see checkELFs).
func WriteImage(img Image, dest string) error {
	if len(img.Refs) == 0 {
		return errors.New("image without a tag")
	}
	what := img.Refs[0]
	tags := map[name.Reference]v1.Image{}
	var refs []name.Tag
	for _, r := range img.Refs {
		t, err := name.NewTag(r, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("image tag %q: %w", r, err)
		}
		refs = append(refs, t)
	}
	entries, err := img.entries()
	if err != nil {
		return fmt.Errorf("image %s: %w", what, err)
	}
	if err := checkELFs(entries); err != nil {
		return fmt.Errorf("image %s: %w", what, err)
	}
	data, err := layerOf(entries)
	if err != nil {
		return fmt.Errorf("image %s: layer: %w", what, err)
	}
	base, err := mutate.AppendLayers(empty.Image, uncompressedLayer(data))
	if err != nil {
		return fmt.Errorf("image %s: %w", what, err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return fmt.Errorf("image %s: config: %w", what, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint, cf.Config.Cmd = img.Entrypoint, img.Cmd
	cf.Config.Env = img.Env
	if len(cf.Config.Env) == 0 {
		cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	cf.Config.User, cf.Config.WorkingDir, cf.Config.Labels = img.User, img.WorkingDir, img.Labels
	// A fixed date keeps the digest a function of the contents only.
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	out, err := mutate.ConfigFile(base, cf)
	if err != nil {
		return fmt.Errorf("image %s: config: %w", what, err)
	}
	for _, t := range refs {
		tags[t] = out
	}
	if err := tarball.MultiRefWriteToFile(dest, tags); err != nil {
		return fmt.Errorf("image %s: writing %s: %w", what, dest, err)
	}
	return nil
}

// entry is a File with its contents read and its mode settled.
type entry struct {
	File
	data []byte
}

// entries reads every file, settles modes, adds the parent directories
// nobody listed (root-owned, 0755), and refuses duplicates.
func (img Image) entries() (map[string]*entry, error) {
	out := map[string]*entry{}
	for _, f := range img.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("path in image %q must be a clean absolute path", f.Path)
		}
		if _, dup := out[f.Path]; dup {
			return nil, fmt.Errorf("%s is listed twice", f.Path)
		}
		e := &entry{File: f}
		switch {
		case f.Dir, f.Link != "":
		case f.Source != "":
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return nil, fmt.Errorf("%s: reading %s: %w", f.Path, f.Source, err)
			}
			e.data = b
			if e.Mode == 0 {
				if fi, err := os.Stat(f.Source); err == nil && fi.Mode()&0o111 != 0 {
					e.Mode = 0o755
				}
			}
		default:
			e.data = f.Data
		}
		if e.Mode == 0 {
			e.Mode = 0o644
			if f.Dir || isELF(e.data) {
				e.Mode = 0o755
			}
		}
		out[f.Path] = e
	}
	for p := range out {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := out[d]; !ok {
				out[d] = &entry{File: File{Path: d, Dir: true, Mode: 0o755}}
			}
		}
	}
	return out, nil
}

func isELF(b []byte) bool { return bytes.HasPrefix(b, []byte(elf.ELFMAG)) }

// layerOf is the tar of entries, parents before children, fixed times.
func layerOf(entries map[string]*entry) ([]byte, error) {
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths) // "/a" sorts before "/a/b"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := entries[p]
		h := &tar.Header{
			Name: strings.TrimPrefix(p, "/"), Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX,
		}
		switch {
		case e.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// libraryDirs are where the dynamic loader looks without an ld.so.cache
// (glibc's built-in default, Debian multiarch), in order.
var libraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// resolve follows symbolic links in the image (absolute and relative) and
// returns the entry p names, or nil.
func resolve(entries map[string]*entry, p string) *entry {
	for hops := 0; hops < 40; hops++ {
		// Resolve the directories first, one component at a time.
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := "/"
		redirected := false
		for i, part := range parts {
			next := path.Join(cur, part)
			e, ok := entries[next]
			if !ok {
				return nil
			}
			if e.Link != "" {
				target := e.Link
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				p = path.Join(append([]string{target}, parts[i+1:]...)...)
				redirected = true
				break
			}
			cur = next
		}
		if !redirected {
			return entries[cur]
		}
	}
	return nil
}

// checkELFs proves each ELF file of the image can start there: its program
// interpreter and every DT_NEEDED library (recursively, as the loader
// would) must resolve inside the image. Static binaries need nothing.
func checkELFs(entries map[string]*entry) error {
	var problems []string
	for _, p := range slices.Sorted(maps.Keys(entries)) {
		e := entries[p]
		if e.Dir || e.Link != "" || !isELF(e.data) {
			continue
		}
		f, err := elf.NewFile(bytes.NewReader(e.data))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		interp := interpreter(f)
		needed, _ := f.ImportedLibraries()
		f.Close()
		if interp != "" && resolve(entries, interp) == nil {
			problems = append(problems, fmt.Sprintf("%s: program interpreter %s is not in the image", p, interp))
		}
		for _, lib := range needed {
			if findLibrary(entries, lib) == "" {
				problems = append(problems, fmt.Sprintf("%s: needs %s, which is not in %v of the image", p, lib, libraryDirs))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrIncomplete, strings.Join(problems, "\n  "))
	}
	return nil
}

// ErrIncomplete is wrapped when a dynamically linked program of an image
// lacks its loader or a library.
var ErrIncomplete = errors.New("a program in the image could not start")

func findLibrary(entries map[string]*entry, soname string) string {
	for _, d := range libraryDirs {
		if resolve(entries, path.Join(d, soname)) != nil {
			return path.Join(d, soname)
		}
	}
	return ""
}

func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				return strings.TrimRight(string(b), "\x00")
			}
		}
	}
	return ""
}

// HostFiles are the files that make the host's dynamically linked
// programs and modules run in an image: each of paths, its program
// interpreter and every shared library it needs, recursively, found in the
// host's library directories as the loader would (what ldd lists, read from
// the ELF headers instead of by running the loader). Each is placed at its
// path with the directories' symbolic links resolved (Debian's /lib is a
// link to usr/lib); those directory links are added as links too, so both
// spellings work in the image.
func HostFiles(paths ...string) ([]File, error) {
	var out []File
	seen := map[string]bool{}
	links := map[string]string{}
	var add func(p string) error
	add = func(p string) error {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			if t, err := os.Readlink(d); err == nil {
				links[d] = t
			}
		}
		dest := filepath.Join(dir, filepath.Base(p))
		if seen[dest] {
			return nil
		}
		seen[dest] = true
		f, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("%s: not an ELF file: %w", p, err)
		}
		interp := interpreter(f)
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: reading its libraries: %w", p, err)
		}
		out = append(out, File{Path: dest, Source: p})
		if interp != "" {
			if err := add(interp); err != nil {
				return err
			}
		}
		for _, lib := range needed {
			found := ""
			for _, d := range libraryDirs {
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, found in none of %v", p, lib, libraryDirs)
			}
			if err := add(found); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range paths {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	for _, d := range slices.Sorted(maps.Keys(links)) {
		out = append(out, File{Path: d, Link: links[d]})
	}
	return out, nil
}
