package main

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/localfile"
)

// registerCompletions gives the flags with a closed set of values their
// values in shell completion (`kfp-doctor completion bash|zsh|fish`, cobra's
// own command): the output formats, the scenarios, the Dex connectors, and
// the kubeconfig's contexts as kubectl completes them, and the cluster's
// namespaces for -n.
func registerCompletions(cmd *cobra.Command, cfg *doctor.Config, kube *kubeFlags, contexts *[]string) {
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
	_ = cmd.RegisterFlagCompletionFunc("namespace", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		kubeContext := ""
		if len(*contexts) > 0 {
			kubeContext = (*contexts)[0]
		}
		return namespaces(*cfg, *kube, kubeContext, prefix), cobra.ShellCompDirectiveNoFileComp
	})
}

// completionTimeout bounds a completion that asks the cluster: a shell
// waiting on Tab must not hang on a dead API server.
const completionTimeout = 2 * time.Second

// namespaces lists the cluster's namespaces starting with prefix, as
// kubectl completes -n: through the kubeconfig (--kubeconfig, --context,
// --as, --as-group), within completionTimeout or --request-timeout if
// shorter. None when the cluster cannot be asked: completion says nothing
// rather than an error.
func namespaces(cfg doctor.Config, kube kubeFlags, kubeContext, prefix string) []string {
	timeout := completionTimeout
	if d, err := clientcmd.ParseTimeout(kube.requestTimeout); err == nil && d > 0 && d < timeout {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rc, _, err := discover.Kubeconfig(ctx, cfg.Kubeconfig, kubeContext, timeout)
	if err != nil {
		return nil
	}
	if kube.as != "" {
		rc.Impersonate = rest.ImpersonationConfig{UserName: kube.as, Groups: kube.asGroups}
	}
	client, err := kubeapi.New(rc)
	if err != nil {
		return nil
	}
	list, err := client.Namespaces().List(ctx, metav1.ListOptions{Limit: maxCompletedNamespaces})
	if err != nil {
		return nil
	}
	var out []string
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, prefix) {
			out = append(out, ns.Name)
		}
	}
	sort.Strings(out)
	return out
}

// maxCompletedNamespaces bounds the list a completion reads.
const maxCompletedNamespaces = 1000

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
