package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

func runConnect(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Bad input is a usage error (exit 2) that names the flag, before anything
// starts: no state directory, no process.
func TestLabUsage(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"bad mode":             {[]string{"lab", "up", "--mode", "both"}, "--mode"},
		"bad install":          {[]string{"lab", "up", "--install", "helm"}, "--install"},
		"bad port":             {[]string{"lab", "up", "--port", "70000"}, "--port 70000"},
		"bad timeout":          {[]string{"lab", "up", "--timeout", "0s"}, "--timeout"},
		"program without path": {[]string{"lab", "up", "--program", "ghcr.io/dexidp/dex"}, "IMAGE=PATH"},
		"program not runnable": {[]string{"lab", "up", "--program", "ghcr.io/dexidp/dex=" + notExec}, "not an executable file"},
		"serve checks too":     {[]string{"lab", "serve", "--ready-timeout", "-1s"}, "--ready-timeout"},
		"unknown flag":         {[]string{"lab", "up", "--modes", "standalone"}, "--modes"},
		"stray argument":       {[]string{"lab", "down", "now"}, "now"},
		"unknown command":      {[]string{"conformity"}, "conformity"},
		"unknown lab command":  {[]string{"lab", "start"}, "start"},
		"env of no lab":        {[]string{"lab", "env", "--name", "nothing-here"}, "kfp-connect lab up --name nothing-here"},
		"bad provider":         {[]string{"lab", "up", "--provider", "kind"}, "--provider"},
		"archive on kwok":      {[]string{"lab", "up", "--image-archive", notExec}, "--provider node"},
		"program on node":      {[]string{"lab", "up", "--provider", "node", "--program", "ghcr.io/dexidp/dex=" + notExec}, "--provider kwok"},
		"archive not there":    {[]string{"lab", "up", "--provider", "node", "--image-archive", "/no/such.tar"}, "not a readable file"},
		"load-image nothing":   {[]string{"lab", "load-image"}, "at least one image archive"},
		"load-image no lab":    {[]string{"lab", "load-image", "--name", "nothing-here", notExec}, "kfp-connect lab up --provider node --name nothing-here"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runConnect(t, c.args...)
			if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, "kfp-connect: ") || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q (want exit 2 naming %s)", code, stdout, stderr, c.want)
			}
		})
	}
}

func TestLabDownOfNoLab(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	code, stdout, stderr := runConnect(t, "lab", "down", "--name", "nothing-here")
	if code != exitOK || stdout != "no lab \"nothing-here\" is up\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// What up hands to the serve process (labd.ServeFlags) is what serve's
// flags parse back: no option is lost on the way to the background.
func TestServeFlagsRoundTrip(t *testing.T) {
	dex := filepath.Join(t.TempDir(), "dex")
	if err := os.WriteFile(dex, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "notebook.tar")
	if err := os.WriteFile(archive, []byte("an archive"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]labd.Options{
		"defaults":  {Name: labd.DefaultName, Mode: kubeflow.MultiUser, Source: install.FromFixtures, ReadyTimeout: 4 * time.Minute, Provider: labd.ProviderKwok},
		"every one": {Name: "mine", Mode: kubeflow.Standalone, Source: install.FromUpstream, Port: 3000, ReadyTimeout: 90 * time.Second, Programs: map[string]string{"ghcr.io/dexidp/dex": dex}, Provider: labd.ProviderKwok},
		"node":      {Name: "real", Mode: kubeflow.MultiUser, Source: install.FromFixtures, ReadyTimeout: 12 * time.Minute, Provider: labd.ProviderNode, ImageArchives: []string{archive}},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			var f labFlags
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			f.bind(fs, "ready-timeout")
			if err := fs.Parse(labd.ServeFlags(want)); err != nil {
				t.Fatal(err)
			}
			got, err := f.options()
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Programs) == 0 {
				want.Programs = map[string]string{}
			}
			if len(got.Programs) == 0 {
				got.Programs = map[string]string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runConnect(t, "version")
	// A test binary has no VCS stamp: buildinfo says devel, never the bare
	// "dev" of an unset -X (the stamped form is tested on kfp-doctor's
	// built binary).
	if code != exitOK || !strings.HasPrefix(stdout, "kfp-connect devel (") {
		t.Fatalf("exit %d, %q", code, stdout)
	}
}
