// Package plugins_test checks the krew manifest against the release
// config: a manifest whose archive names, binary or platforms drift from
// what .goreleaser.yaml builds installs nothing.
package plugins_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

const releases = "https://github.com/kfp-connect/kfp-connect/releases/download/"

type build struct {
	ID      string   `json:"id"`
	Main    string   `json:"main"`
	Binary  string   `json:"binary"`
	Ldflags []string `json:"ldflags"`
	Goos    []string `json:"goos"`
	Goarch  []string `json:"goarch"`
}

type goreleaser struct {
	Builds   []build `json:"builds"`
	Archives []struct {
		IDs          []string `json:"ids"`
		NameTemplate string   `json:"name_template"`
		Formats      []string `json:"formats"`
	} `json:"archives"`
}

type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// render fills in the manifest as krew-release-bot does: {{ .TagName }},
// and addURIAndSha's uri and sha256 lines (here the sha256 of the URL, as
// no archive exists).
func render(t *testing.T, tmpl []byte, tag string) []byte {
	t.Helper()
	funcs := template.FuncMap{"addURIAndSha": func(url, tag string) (string, error) {
		u, err := execute(url, map[string]string{"TagName": tag})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("uri: %s\n    sha256: %x", u, sha256.Sum256([]byte(u))), nil
	}}
	tp, err := template.New("krew").Funcs(funcs).Parse(string(tmpl))
	if err != nil {
		t.Fatalf("plugins/kfp-doctor.yaml is not a valid template: %v", err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, map[string]string{"TagName": tag}); err != nil {
		t.Fatalf("rendering plugins/kfp-doctor.yaml: %v", err)
	}
	return b.Bytes()
}

func execute(text string, data any) (string, error) {
	tp, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tp.Execute(&b, data)
	return b.String(), err
}

func TestKrewManifestMatchesTheRelease(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rel goreleaser
	if err := yaml.Unmarshal(raw, &rel); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	tmpl, err := os.ReadFile("kfp-doctor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const tag = "v1.2.3"
	var plugin krewPlugin
	if err := yaml.UnmarshalStrict(render(t, tmpl, tag), &plugin); err != nil {
		t.Fatalf("the rendered manifest: %v", err)
	}
	if plugin.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || plugin.Kind != "Plugin" || plugin.Metadata.Name != "kfp-doctor" || plugin.Spec.Version != tag {
		t.Fatalf("manifest header: %+v", plugin)
	}
	// kubectl runs `kubectl kfp-doctor` as kubectl-kfp_doctor: a dash in
	// the plugin name is an underscore in the binary's.
	wantBin := "kubectl-" + strings.ReplaceAll(plugin.Metadata.Name, "-", "_")

	i := slices.IndexFunc(rel.Builds, func(b build) bool { return b.Binary == wantBin })
	if i < 0 {
		t.Fatalf(".goreleaser.yaml builds no %s", wantBin)
	}
	b := rel.Builds[i]
	if b.Main != "./cmd/kfp-doctor" || !strings.Contains(strings.Join(b.Ldflags, " "), "-X main.version=") {
		t.Errorf("build %s: main %s, ldflags %v; want ./cmd/kfp-doctor with the version stamped", b.ID, b.Main, b.Ldflags)
	}
	var nameTemplate string
	for _, a := range rel.Archives {
		if slices.Contains(a.IDs, b.ID) {
			if len(a.IDs) != 1 || !slices.Equal(a.Formats, []string{"tar.gz"}) {
				t.Errorf("the archive of %s holds %v as %v; want it alone, as tar.gz", b.ID, a.IDs, a.Formats)
			}
			nameTemplate = a.NameTemplate
		}
	}
	if nameTemplate == "" {
		t.Fatalf("no archive of build %s", b.ID)
	}

	seen := map[string]bool{}
	for _, p := range plugin.Spec.Platforms {
		os, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		key := os + "/" + arch
		if !slices.Contains(b.Goos, os) || !slices.Contains(b.Goarch, arch) || seen[key] {
			t.Errorf("platform %s: not built, or listed twice", key)
		}
		seen[key] = true
		name, err := execute(nameTemplate, map[string]string{"Tag": tag, "Os": os, "Arch": arch})
		if err != nil {
			t.Fatalf("archive name_template %q: %v", nameTemplate, err)
		}
		if want := releases + tag + "/" + name + ".tar.gz"; p.URI != want {
			t.Errorf("platform %s: uri %s, want the release's archive %s", key, p.URI, want)
		}
		if p.Bin != wantBin || len(p.Sha256) != 64 {
			t.Errorf("platform %s: bin %q sha256 %q", key, p.Bin, p.Sha256)
		}
	}
	if want := len(b.Goos) * len(b.Goarch); len(seen) != want {
		t.Errorf("the manifest lists %d platforms, the release builds %d", len(seen), want)
	}
}
