package programs

import (
	"context"
	"flag"
	"fmt"
	"net/http"

	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
)

// KFP's API server (ghcr.io/kubeflow/kfp-api-server), our stand-in in its
// image's layout: upstream's image runs /bin/apiserver with
// `--config=/config --sampleconfig=/config/sample_config.json
// -logtostderr=true` from WORKDIR /bin and carries ENV TAG_NAME (its release,
// which healthz reports). Ours has kfp-standin at /bin/apiserver, which
// answers to that name and takes those flags, so a --program with a real
// API server binary runs with upstream's command line. Its HTTP port is
// 8888 (the gRPC port 8887 is not served by the stand-in). The tags are the
// shared manifests': 2.17.0 (KFP's kustomizations, our fixtures) and 2.16.0
// (kubeflow/manifests).
func init() {
	register(Program{
		Name:    "kfp-api-server",
		Aliases: []string{"apiserver"},
		Repos:   []string{"ghcr.io/kubeflow/kfp-api-server"},
		Tags:    []string{"2.17.0", "2.16.0"},
		Config: func(tag string) Config {
			if tag == "" {
				tag = "unknown" // a digest names no release, as a source build reports
			}
			return Config{
				Cmd:        []string{"/bin/apiserver", "--config=/config", "--sampleconfig=/config/sample_config.json", "-logtostderr=true"},
				Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "TAG_NAME=" + tag},
				WorkingDir: "/bin",
			}
		},
		Contents: standinAt("/bin/apiserver"),
		Server: &Server{Port: 8888, Build: func(in Inputs) (http.Handler, error) {
			cfg, err := apiserver.ConfigFromEnv(in.Lookup)
			if err != nil {
				return nil, err
			}
			if in.Identity == nil {
				return nil, fmt.Errorf("the API server checks tokens and access as its ServiceAccount: %w", errNoIdentity)
			}
			kube, err := kubernetes.NewForConfig(in.Identity)
			if err != nil {
				return nil, fmt.Errorf("client for the API server's ServiceAccount: %w", err)
			}
			return apiserver.New(cfg, kube), nil
		}, Flags: func(fs *flag.FlagSet, listen *string) {
			// The real server's flags: its HTTP address, and what the stand-in
			// has no use for (its config files, its log settings, gRPC).
			fs.Func("httpPortStr", "address of the HTTP server (the real server's flag; same as --listen)", func(v string) error {
				*listen = v
				return nil
			})
			for _, f := range []string{"config", "sampleconfig", "rpcPortStr", "logLevel"} {
				fs.String(f, "", "accepted and ignored: the real server's flag")
			}
			fs.Bool("logtostderr", true, "accepted and ignored: the real server's flag")
		}},
	})
}

// standinAt is an image of one file, kfp-standin at file.
func standinAt(file string) func(context.Context, Sources) (Contents, error) {
	return func(ctx context.Context, src Sources) (Contents, error) {
		bin, err := src.Go(ctx, StandinPackage)
		if err != nil {
			return Contents{}, err
		}
		return Contents{Files: []images.File{{Path: file, Source: bin}}}, nil
	}
}
