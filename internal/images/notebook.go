package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NotebookRef is a notebook-like image: Debian's python3 with the packages
// the real KFP SDK imports, the SDK itself, and the kfp-doctor wheel
// installed with pip into a venv, as a data scientist's notebook image holds
// them. Its pods run the SDK and kfp_doctor as a notebook user would.
const NotebookRef = "kfpc.local/notebook:kfp-2.17.0"

// The notebook image's layout.
const (
	NotebookVenv   = "/opt/venv"
	NotebookSDK    = "/opt/kfp-sdk"
	NotebookDriver = "/opt/kfp-connect/driver.py"
	NotebookHome   = "/home/jovyan"
	// NotebookUID is jovyan's, as Kubeflow's notebook images run.
	NotebookUID = 1000
)

// NotebookInputs are what the notebook image is made of, all from this
// machine: nothing is downloaded.
type NotebookInputs struct {
	// Python is Debian's interpreter (/usr/bin/python3): it, its standard
	// library and the SDK's dependencies from dist-packages go in.
	Python string
	// SDK is the KFP SDK's folder (../shared/upstream/kfp-sdk-2.17.0).
	SDK string
	// Venv is a venv made with --system-site-packages by Python, the
	// kfp-doctor wheel installed into it with pip (internal/pywheel).
	Venv string
	// Driver is the SDK driver (internal/sdkrun) the pods run.
	Driver []byte
	// Bytecode is an empty folder the modules' compiled bytecode is
	// written to, for the image to carry (see compileBytecode).
	Bytecode string
}

// sdkModules are the modules the SDK's client paths import (the SDK
// folder's README lists their Debian packages); their top-level packages go
// into the image whole, so what they import later is there too.
var sdkModules = []string{
	"kfp", "kfp.client", "kfp_server_api", "kubernetes.config", "kubernetes.config.incluster_config",
	"kubernetes.config.kube_config", "google.auth", "google.protobuf", "requests", "requests_toolbelt", "urllib3",
	"yaml", "click", "tabulate", "click_option_group", "dateutil", "certifi", "six", "kfp_doctor",
}

// stdlibLeftOut are parts of the standard library no notebook run needs.
var stdlibLeftOut = map[string]bool{"test": true, "idlelib": true, "tkinter": true, "turtledemo": true, "lib2to3": true, "ensurepip": true, "__pycache__": true}

// NotebookFiles are the notebook image's files (internal/programs holds its
// config: the venv's python as entrypoint, the pod's args say what it runs).
func NotebookFiles(ctx context.Context, in NotebookInputs) ([]File, error) {
	layout, err := pythonLayout(ctx, in)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(in.Python)
	if err != nil {
		return nil, err
	}
	elfs := []string{real}
	var files []File
	add := func(fs []File) { files = append(files, fs...) }

	// The standard library, with its extension modules' libraries.
	stdlib, err := tree(layout.stdlib, layout.stdlib, func(rel string) bool {
		first := strings.Split(rel, string(filepath.Separator))[0]
		return stdlibLeftOut[first] || strings.HasPrefix(first, "config-") || strings.Contains(rel, "__pycache__")
	})
	if err != nil {
		return nil, err
	}
	add(stdlib)
	// Debian links sitecustomize.py into /etc.
	if t, err := filepath.EvalSymlinks(filepath.Join(layout.stdlib, "sitecustomize.py")); err == nil && strings.HasPrefix(t, "/etc/") {
		add([]File{{Path: t, Source: t}})
	}
	// The SDK's dependencies from the system's site directories.
	for _, top := range layout.site {
		fi, err := os.Lstat(top)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			t, err := tree(top, top, func(rel string) bool { return strings.Contains(rel, "__pycache__") })
			if err != nil {
				return nil, err
			}
			add(t)
		} else {
			add([]File{{Path: top, Source: top}})
		}
	}
	for _, f := range files {
		if f.Source != "" && strings.HasSuffix(f.Source, ".so") {
			elfs = append(elfs, f.Source)
		}
	}
	// OpenSSL's providers (cryptography loads the legacy one), its
	// configuration and the CA bundle Debian's certifi points at.
	providers, _ := filepath.Glob("/usr/lib/*/ossl-modules/*.so")
	elfs = append(elfs, providers...)
	for _, p := range []string{"/etc/ssl/openssl.cnf", "/etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(p); err == nil {
			files = append(files, File{Path: p, Source: p})
		}
	}
	// Each ELF file with its loader and libraries (the extension modules'
	// own paths come again: keep the first).
	libs, err := HostFiles(elfs...)
	if err != nil {
		return nil, fmt.Errorf("the notebook image: %w", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
	}
	for _, f := range libs {
		if !seen[f.Path] {
			seen[f.Path] = true
			files = append(files, f)
		}
	}
	if rel, err := filepath.Rel(filepath.Dir(in.Python), real); err == nil && !seen[in.Python] {
		files = append(files, File{Path: in.Python, Link: rel})
	}

	sdk, err := tree(in.SDK, NotebookSDK, func(rel string) bool { return strings.Contains(rel, "__pycache__") })
	if err != nil {
		return nil, err
	}
	venv, err := tree(in.Venv, NotebookVenv, func(rel string) bool { return strings.Contains(rel, "__pycache__") })
	if err != nil {
		return nil, err
	}
	files = append(append(files, sdk...), venv...)
	pycs, err := compileBytecode(ctx, in.Python, in.Bytecode, files)
	if err != nil {
		return nil, err
	}
	files = append(files, pycs...)
	files = append(files,
		File{Path: NotebookDriver, Data: in.Driver},
		File{Path: NotebookHome, Dir: true, UID: NotebookUID, GID: NotebookUID},
		File{Path: "/tmp", Dir: true, Mode: 0o1777},
	)
	return files, nil
}

// layout is where the interpreter keeps its standard library, and the
// top-level entries of the site directories the SDK's modules come from.
type layout struct {
	stdlib string
	site   []string
}

// pythonLayout asks the interpreter itself: it imports the SDK's modules
// and names the files they came from.
func pythonLayout(ctx context.Context, in NotebookInputs) (layout, error) {
	// The distributions the imported modules belong to, and what those
	// require, recursively: their packages and their metadata (the SDK's
	// google-auth asks pkg_resources for cryptography's version).
	const script = `
import importlib, importlib.metadata as md, json, os, re, site, sys, sysconfig
for m in sys.argv[1:]:
    importlib.import_module(m)
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
pd = md.packages_distributions()
tops_of = {}
for top, ds in pd.items():
    for d in ds:
        tops_of.setdefault(norm(d), set()).add(top)
dists = {norm(d): d for name in list(sys.modules) for d in pd.get(name.split(".")[0], [])}
todo = list(dists.values())
while todo:
    try:
        reqs = md.requires(todo.pop()) or []
    except md.PackageNotFoundError:
        continue
    for r in reqs:
        if "extra ==" in r:
            continue
        n = re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]
        if n and norm(n) not in dists:
            dists[norm(n)] = n
            todo.append(n)
sites = site.getsitepackages()
paths = set()
for key, d in dists.items():
    try:
        dist = md.distribution(d)
    except md.PackageNotFoundError:
        continue
    meta = str(getattr(dist, "_path", ""))
    base = os.path.dirname(meta)
    if base not in sites:
        continue
    paths.add(meta)
    for top in tops_of.get(key, ()):
        for cand in os.listdir(base):
            if cand == top or cand == top + ".py" or (cand.startswith(top + ".") and cand.endswith(".so")):
                paths.add(os.path.join(base, cand))
files = sorted({f for f in (getattr(m, "__file__", None) for m in list(sys.modules.values())) if f})
print(json.dumps({"stdlib": sysconfig.get_paths()["stdlib"], "site": sites, "files": files, "paths": sorted(paths)}))
`
	cmd := exec.CommandContext(ctx, in.Python, append([]string{"-W", "ignore", "-c", script}, sdkModules...)...)
	cmd.Env = []string{"PYTHONPATH=" + in.SDK + string(os.PathListSeparator) + venvSite(in.Venv), "PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return layout{}, fmt.Errorf("the notebook image: %s cannot import the SDK's modules (make system-deps installs them): %v\n%s", in.Python, err, stderr.String())
	}
	var got struct {
		Stdlib string   `json:"stdlib"`
		Site   []string `json:"site"`
		Files  []string `json:"files"`
		Paths  []string `json:"paths"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		return layout{}, err
	}
	l := layout{stdlib: got.Stdlib}
	tops := map[string]bool{}
	for _, p := range got.Paths {
		if !tops[p] {
			tops[p] = true
			l.site = append(l.site, p)
		}
	}
	for _, f := range got.Files {
		for _, s := range got.Site {
			rel, err := filepath.Rel(s, f)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			top := filepath.Join(s, strings.Split(rel, string(filepath.Separator))[0])
			if !tops[top] {
				tops[top] = true
				l.site = append(l.site, top)
			}
		}
	}
	return l, nil
}

// venvSite is the venv's site-packages (kfp_doctor is imported from there).
func venvSite(venv string) string {
	m, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// tree lists the files under dir as image files under dest, symbolic links
// kept as links; skip leaves out paths (relative to dir) and what is
// under them.
func tree(dir, dest string, skip func(rel string) bool) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		if skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dest, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, File{Path: to, Link: t})
		case d.IsDir():
			out = append(out, File{Path: to, Dir: true})
		case d.Type().IsRegular():
			out = append(out, File{Path: to, Source: p})
		}
		return nil
	})
	return out, err
}

// compileBytecode compiles every Python module among files into bytecode
// under dir and returns the compiled files, each where the interpreter looks
// for it in the image (__pycache__ beside its source). Installers compile
// at install time (pip, Debian's py3compile); an image without bytecode
// makes every pod compile each module it imports, and as jovyan it cannot
// keep the result: `import kfp.client` took 2.6 s instead of 0.7. The
// image's files all carry one fixed date, so the bytecode is checked
// against its source's hash (PEP 552), not its date.
func compileBytecode(ctx context.Context, python, dir string, files []File) ([]File, error) {
	if dir == "" {
		return nil, errors.New("the notebook image: no folder to compile its bytecode in")
	}
	type module struct{ Source, Path string }
	var mods []module
	for _, f := range files {
		if f.Source != "" && strings.HasSuffix(f.Path, ".py") {
			mods = append(mods, module{f.Source, f.Path})
		}
	}
	// A module that does not compile (a template, Python 2 left in a
	// package) is left as the installers leave it: without bytecode.
	const script = `
import importlib.util, json, multiprocessing, os, py_compile, sys

def compile_one(m):
    pyc = importlib.util.cache_from_source(m["Path"])
    try:
        py_compile.compile(m["Source"], cfile=os.path.join(sys.argv[1], pyc.lstrip("/")), dfile=m["Path"], doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except py_compile.PyCompileError:
        return None
    return pyc

# fork: a function of a -c script cannot be sent to a spawned worker.
with multiprocessing.get_context("fork").Pool() as pool:
    json.dump([p for p in pool.map(compile_one, json.load(sys.stdin), chunksize=64) if p], sys.stdout)
`
	in, err := json.Marshal(mods)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, "-W", "ignore", "-c", script, dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the notebook image: compiling its modules with %s: %v\n%s", python, err, stderr.String())
	}
	var compiled []string
	if err := json.Unmarshal(out.Bytes(), &compiled); err != nil {
		return nil, fmt.Errorf("the notebook image: compiling its modules: %w", err)
	}
	pycs := make([]File, 0, len(compiled))
	for _, p := range compiled {
		pycs = append(pycs, File{Path: p, Source: filepath.Join(dir, p)})
	}
	return pycs, nil
}
