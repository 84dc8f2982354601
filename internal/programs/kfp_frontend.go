package programs

import (
	"net/http"

	"github.com/kfp-connect/kfp-connect/internal/standin/ui"
)

// KFP's UI server (ghcr.io/kubeflow/kfp-frontend), our stand-in, on port
// 3000: kfp-standin with the program named in the entrypoint, so a pod's
// args replace nothing of it. One image carries both releases' tags.
func init() {
	register(Program{
		Name:  "kfp-frontend",
		Repos: []string{"ghcr.io/kubeflow/kfp-frontend"},
		Tags:  []string{"2.17.0", "2.16.0"},
		Config: static(Config{
			Entrypoint: []string{"/kfp-standin", "kfp-frontend"},
			Env:        []string{"PATH=/"},
		}),
		Contents: standinAt("/kfp-standin"),
		Server: &Server{Port: 3000, Build: func(in Inputs) (http.Handler, error) {
			cfg := ui.ConfigFromEnv(in.Lookup)
			cfg.Transport = in.Transport
			return ui.New(cfg), nil
		}},
	})
}
