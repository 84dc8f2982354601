package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// newImagesCommand builds the images we ship as docker archives, offline:
// each a static binary of this module on an empty base (internal/images).
func newImagesCommand(stdout io.Writer) *cobra.Command {
	var dir, moduleDir, imageVersion string
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build the doctor's image as a docker archive, offline (no Docker, no registry)",
		Long: `images builds kfp-doctor as a static linux/amd64 binary from this module's source
(run it in a clone; the Go toolchain must be on PATH) and writes its image, the binary
alone on an empty base with it as the entrypoint, as a docker archive:

  <dir>/kfp-doctor.tar   tagged ` + images.DoctorRepository + `:<version> and :latest

Load it where pods run: kind load image-archive <dir>/kfp-doctor.tar, or
ctr -n k8s.io images import <dir>/kfp-doctor.tar on a containerd node; the pods
then need imagePullPolicy IfNotPresent or Never (deploy/doctor/job.yaml has IfNotPresent).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				cache, err := os.UserCacheDir()
				if err != nil {
					return &usageError{err: fmt.Errorf("no --dir and no cache directory: %w", err)}
				}
				dir = filepath.Join(cache, "kfp-connect", "images")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			ref := images.Doctor(imageVersion)
			archives, err := images.Build(ctx, moduleDir, dir, []images.Ref{ref}, images.Version(imageVersion), images.AlsoTag("latest"))
			if err != nil {
				return err
			}
			// The binary was only the layer's source; the archive holds it.
			_ = os.Remove(filepath.Join(dir, filepath.Base(ref.Package)))
			for _, a := range archives {
				fmt.Fprintf(stdout, "%s\t%s (and :latest)\n", a, ref.Ref)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory the archives are written to (default $XDG_CACHE_HOME/kfp-connect/images, i.e. ~/.cache/kfp-connect/images)")
	f.StringVar(&moduleDir, "module-dir", ".", "a directory inside the kfp-connect module to build from")
	f.StringVar(&imageVersion, "version", version, "version stamped into the doctor (kfp-doctor version) and used as the image's tag")
	return cmd
}
