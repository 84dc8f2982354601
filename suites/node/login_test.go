package node_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// The login programs the lab runs as processes on kwok, here as pods of
// our images: the multi-user fixtures' Dex, OpenLDAP and oauth2-proxy
// Deployments applied unchanged.
var _ = Describe("The login programs as pods on a node cluster", Ordered, Label("node", "login"), func() {
	var (
		n  *node.Node
		cs kubernetes.Interface
	)
	BeforeAll(func(ctx SpecContext) {
		n, cs = createNode(ctx, node.Options{})
		By("building the login images and loading them into the running node")
		archives, err := imgs.Catalog(ctx, programs.LoginRefs()...)
		Expect(err).NotTo(HaveOccurred())
		Expect(n.LoadImages(ctx, archives...)).To(Succeed())

		By("applying the fixtures' namespaces and login objects")
		fixtures, err := install.Fixtures(kubeflow.MultiUser)
		Expect(err).NotTo(HaveOccurred())
		var objs []*unstructured.Unstructured
		for _, o := range fixtures {
			if ns := o.GetNamespace(); o.GetKind() == "Namespace" || ns == "auth" || ns == "oauth2-proxy" {
				objs = append(objs, o)
			}
		}
		_, err = manifests.Apply(ctx, n.RESTConfig(), objs, manifests.Options{})
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(6*time.Minute))

	AfterEach(func() {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
		}
	})

	readyPod := func(ctx context.Context, ns, selector string) *corev1.Pod {
		var ready *corev1.Pod
		Eventually(ctx, func(ctx context.Context) bool {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return false
			}
			for i := range pods.Items {
				for _, c := range pods.Items[i].Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready = &pods.Items[i]
						return true
					}
				}
			}
			return false
		}).WithTimeout(2*time.Minute).Should(BeTrue(), "no Ready pod %s in %s", selector, ns)
		return ready
	}

	It("runs Dex from its image until its readiness probe passes", func(ctx SpecContext) {
		p := readyPod(ctx, "auth", "app=dex")
		Expect(p.Spec.Containers[0].Command).To(Equal([]string{"dex", "serve", "/etc/dex/cfg/config.yaml"}), "the fixture's command, unchanged")
	}, SpecTimeout(3*time.Minute))

	It("runs oauth2-proxy from its image until its readiness probe passes", func(ctx SpecContext) {
		readyPod(ctx, "oauth2-proxy", "app.kubernetes.io/name=oauth2-proxy")
	}, SpecTimeout(3*time.Minute))

	It("runs slapd from the OpenLDAP image with the fixture's LDIF, answering a bind and a search", func(ctx SpecContext) {
		// No readiness probe in the fixture: Ready is Running here.
		p := readyPod(ctx, "auth", "app=openldap")
		Expect(podLog(ctx, cs, "auth", p.Name, "openldap")).To(ContainSubstring("dc=example,dc=org loaded from 1 LDIF file(s) of /ldifs"))
		// Debian's ldapsearch, run in the node's network namespace against
		// the pod's address; the password from a file, never on a command line.
		pw := filepath.Join(GinkgoT().TempDir(), "pw")
		Expect(os.WriteFile(pw, []byte("ldap-admin-password"), 0o600)).To(Succeed())
		var out []byte
		Eventually(ctx, func(ctx context.Context) error {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var err error
			out, err = exec.CommandContext(sctx, "ip", "netns", "exec", n.Name(), "ldapsearch", "-x", "-LLL",
				"-H", "ldap://"+p.Status.PodIP+":1389", "-D", "cn=admin,dc=example,dc=org", "-y", pw,
				"-b", "ou=users,dc=example,dc=org", "(objectClass=inetOrgPerson)", "mail").CombinedOutput()
			return err
		}).WithTimeout(time.Minute).Should(Succeed(), "ldapsearch: %s", out)
		Expect(strings.Split(strings.TrimSpace(string(out)), "\n")).To(ContainElements("mail: ldap-user@example.com", "mail: no-access@example.com"))
	}, SpecTimeout(3*time.Minute))
})
