// Package manifests reads Kubernetes manifests (multi-document YAML or
// JSON, files of a directory in order) and applies them to a cluster by
// server-side apply: the one way objects get onto a cluster here — an
// install, the suites' fixtures, the node's own add-ons.
package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
)

// FieldManager is the server-side apply field manager of everything we apply.
const FieldManager = "kfp-connect"

// Decode splits multi-document YAML (or JSON) into objects, skipping
// empty documents; name is used in errors only.
func Decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", name, i+1)
		}
		objs = append(objs, u)
	}
}

// Read decodes every *.yaml/*.yml file of fsys in lexical path order, so
// numbered file names (00-namespaces.yaml) control what is applied first.
func Read(fsys fs.FS) ([]*unstructured.Unstructured, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := path.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing manifests: %w", err)
	}
	sort.Strings(files)
	var all []*unstructured.Unstructured
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		objs, err := Decode(f, data)
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}

// ApplyAll applies objs as Apply does, on a cluster whose pods run, and
// fails when any of them could not be applied as written: for objects
// that must all be there (a suite's fixtures, the node's DNS).
func ApplyAll(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	res, err := Apply(ctx, cfg, objs, Options{})
	if err != nil {
		return err
	}
	if len(res.Skipped) > 0 {
		var notes []string
		for _, n := range res.Skipped {
			notes = append(notes, n.String())
		}
		return fmt.Errorf("not applied: %s", strings.Join(notes, "; "))
	}
	return nil
}

// ApplyFS is Read followed by ApplyAll.
func ApplyFS(ctx context.Context, cfg *rest.Config, fsys fs.FS) error {
	objs, err := Read(fsys)
	if err != nil {
		return err
	}
	return ApplyAll(ctx, cfg, objs)
}

// PodSpecPath is where an object of kind holds its pod spec (a Pod's own,
// a workload's template, a CronJob's job template's), and false for a kind
// that holds none.
func PodSpecPath(kind string) ([]string, bool) {
	switch kind {
	case "Pod":
		return []string{"spec"}, true
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}, true
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}, true
	}
	return nil, false
}
