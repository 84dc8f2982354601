package main

import (
	"context"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/localfile"
)

// registerCompletions gives the flags with a closed set of values their
// values in shell completion (`kfp-doctor completion bash|zsh|fish`, cobra's
// own command): the output formats, the scenarios, the Dex connectors, and
// the kubeconfig's contexts as kubectl completes them.
func registerCompletions(cmd *cobra.Command, cfg *doctor.Config) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = cmd.RegisterFlagCompletionFunc("output", fixed("text", "json", "junit"))
	_ = cmd.RegisterFlagCompletionFunc("scenario", fixed(doctor.ScenarioAuto, doctor.ScenarioStandaloneInCluster,
		doctor.ScenarioStandaloneOutOfCluster, doctor.ScenarioMultiUserInCluster, doctor.ScenarioMultiUserOutOfCluster))
	_ = cmd.RegisterFlagCompletionFunc("login-connector", fixed("local", "ldap"))
	_ = cmd.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return kubeContexts(cfg.Kubeconfig), cobra.ShellCompDirectiveNoFileComp
	})
}

// kubeContexts are the contexts of the kubeconfig the doctor would read
// (--kubeconfig, else each file of $KUBECONFIG, else ~/.kube/config), read
// through the bounded reader as the doctor reads them; none when it cannot
// be read.
func kubeContexts(path string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	files := []string{path}
	if path == "" {
		files = clientcmd.NewDefaultClientConfigLoadingRules().GetLoadingPrecedence()
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := localfile.Read(ctx, f, localfile.Kubeconfig)
		if err != nil {
			continue
		}
		c, err := clientcmd.Load(b)
		if err != nil {
			continue
		}
		for name := range c.Contexts {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
