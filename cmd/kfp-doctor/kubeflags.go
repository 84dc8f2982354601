package main

import (
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
)

// kubeFlags are kubectl's flags for how to talk to the cluster, by kubectl's
// names, help texts and parsing (k8s.io/cli-runtime's ConfigFlags: --as,
// --as-group, --request-timeout). ConfigFlags itself is not used: its
// package brings kubectl's resource builder and kustomize into the binary
// users download (TestDoctorDoesNotDependOnTheLab), and its loader reads
// kubeconfigs unbounded, which the doctor does not.
type kubeFlags struct {
	as             string
	asGroups       []string
	requestTimeout string
}

func (k *kubeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&k.as, "as", "", "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	f.StringArrayVar(&k.asGroups, "as-group", nil, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	f.StringVar(&k.requestTimeout, "request-timeout", "0", "The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means the doctor's own (2s, or less under --timeout); --timeout still bounds the whole run.")
}

// apply puts the flags into the configuration; a --request-timeout kubectl
// would refuse is bad usage here too.
func (k *kubeFlags) apply(cfg *doctor.Config) error {
	cfg.Impersonate = k.as
	cfg.ImpersonateGroups = k.asGroups
	// clientcmd.ParseTimeout is what kubectl parses --request-timeout with:
	// a bare integer is seconds.
	d, err := clientcmd.ParseTimeout(k.requestTimeout)
	if err != nil {
		return usageErr("--request-timeout %q: %v", k.requestTimeout, err)
	}
	if d < 0 {
		return usageErr("--request-timeout %s: must not be negative", d)
	}
	cfg.RequestTimeout = d
	return nil
}
