package programs

import (
	"context"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// The doctor (cmd/kfp-doctor) at the tag doctorpod runs by default: its
// version is the dev build's, as the suites use it. A release's image is
// `kfp-connect images` (images.Build), stamped with its version.
func init() {
	register(Program{
		Name:   "kfp-doctor",
		Repos:  []string{images.DoctorRepository},
		Tags:   []string{images.DevTag},
		Config: static(Config{Entrypoint: []string{"/kfp-doctor"}, Env: []string{"PATH=/"}}),
		Contents: func(ctx context.Context, src Sources) (Contents, error) {
			bin, err := src.Go(ctx, DoctorPackage)
			if err != nil {
				return Contents{}, err
			}
			return Contents{Files: []images.File{{Path: "/kfp-doctor", Source: bin}}}, nil
		},
	})
}
