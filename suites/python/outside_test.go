package python_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
	multiuser "github.com/kfp-connect/kfp-connect/scenarios/multiuser/outcluster"
	standalone "github.com/kfp-connect/kfp-connect/scenarios/standalone/outcluster"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

// outsideClient is what a path's user holds outside the cluster: the
// port-forward's URL with the path's prefix, a token minted as `kubectl
// create token` mints it (in a file), or a session's cookies from a login
// through Dex (the user's own script; the doctor's --username is that login
// done by the doctor, so here both are given its cookies).
type outsideClient struct {
	host, tokenFile, cookies string
	// secrets are the values that must appear nowhere.
	secrets []string
}

// openOutside builds the path's client on env's cluster; the port-forward
// ends with the spec.
func openOutside(ctx context.Context, e *env.Env, p scenarios.Path, dir string) outsideClient {
	pf := p.PortForward
	ns := pf.Namespace
	if ns == "" {
		ns = kubeflow.Namespace
	}
	d, err := svcdial.New(e.Config, ns)
	Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Forward(fctx, ln, fmt.Sprintf("%s.%s:%d", pf.Service, ns, pf.Port))
	}()
	DeferCleanup(func() { stop(); <-done; d.Close() })
	base := "http://" + ln.Addr().String()
	c := outsideClient{host: base + p.Host}

	if p.Token.Kind == scenarios.MintedToken {
		sa, name, _ := strings.Cut(p.Token.ServiceAccount, "/")
		req := &authenticationv1.TokenRequest{}
		if p.Token.Audience != "" {
			req.Spec.Audiences = []string{p.Token.Audience}
		}
		tr, err := e.Client.CoreV1().ServiceAccounts(sa).CreateToken(ctx, name, req, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		c.tokenFile = filepath.Join(dir, "token")
		Expect(os.WriteFile(c.tokenFile, []byte(tr.Status.Token), 0o600)).To(Succeed())
		c.secrets = append(c.secrets, tr.Status.Token)
	}
	user := p.Session
	if user == nil {
		user = p.Login
	}
	if user != nil {
		gw, err := url.Parse(base)
		Expect(err).NotTo(HaveOccurred())
		lctx, cancel := bounded(ctx, 30*time.Second)
		defer cancel()
		sess, _, err := login.Login(lctx, login.Config{Gateway: gw, Username: user.Username, Password: user.Password, Connector: user.Connector})
		Expect(err).NotTo(HaveOccurred())
		Expect(sess).NotTo(BeNil(), "the gateway has no login")
		c.cookies = sess.Cookie
		c.secrets = append(c.secrets, user.Password)
		for _, part := range strings.Split(sess.Cookie, ";") {
			if _, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && len(v) >= 8 {
				c.secrets = append(c.secrets, v)
			}
		}
	}
	return c
}

var _ = Describe("diagnose(client) on every outside path", func() {
	for _, sc := range []*scenarios.Scenario{&standalone.Scenario, &multiuser.Scenario} {
		Describe(sc.Name, Ordered, ContinueOnFailure, Label(string(sc.Mode)), func() {
			var e *env.Env
			BeforeAll(func(ctx SpecContext) {
				k := suitekit.Kwok(ctx)
				log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
				var err error
				e, err = env.Setup(ctx, k.RESTConfig(), sc, env.Options{Log: log})
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(e.Close)
			}, NodeTimeout(5*time.Minute))

			for _, p := range sc.Paths {
				switch {
				case p.NeedsPodNetwork():
					It(p.Name, func() {
						Skip("kfp.Client() through the kube-apiserver's service proxy needs real pod networking (the node provider)")
					})
					continue
				case p.Install != nil:
					It(p.Name, func() {
						Skip("a variant of the install (" + p.Install.Name + "): this suite sets up the scenario's base install only")
					})
					continue
				}
				It(p.Name, func(ctx SpecContext) {
					dir := GinkgoT().TempDir()
					c := openOutside(ctx, e, p, dir)
					home := filepath.Join(dir, "home")

					By("the doctor with the path's flags")
					cfg := doctor.Config{Host: c.host, Namespace: p.Namespace, TokenFile: c.tokenFile, Cookies: c.cookies, CheckWrite: p.CheckWrite, Timeout: 20 * time.Second}
					var red redact.Redactor
					rep, err := doctor.Run(ctx, cfg, doctor.Seams{Getenv: func(k string) string {
						if k == "HOME" {
							return home
						}
						return ""
					}}, &red)
					Expect(err).NotTo(HaveOccurred())

					By("kfp.Client as the path's user builds it, kfp_doctor.diagnose(client), then its own calls")
					o, err := sdk.Run(ctx, sdkrun.Case{Host: c.host, Namespace: p.Namespace, ExistingTokenFile: c.tokenFile, Cookies: c.cookies,
						Write: p.CheckWrite, Diagnose: true, Env: map[string]string{"HOME": home}})
					Expect(err).NotTo(HaveOccurred())
					GinkgoWriter.Printf("SDK: %s\n", o)
					Expect(o.Diagnosis).NotTo(BeNil())
					Expect(o.Diagnosis.Error).To(BeEmpty())
					GinkgoWriter.Print(o.Diagnosis.Text)

					var got struct {
						OK      bool             `json:"ok"`
						Results []map[string]any `json:"results"`
					}
					Expect(json.Unmarshal(o.Diagnosis.JSON, &got)).To(Succeed())
					Expect(sdkrun.Findings(got.Results)).To(Equal(sdkrun.FindingsOf(rep)), "diagnose(client) and the doctor with the path's flags differ")
					Expect(got.OK).To(Equal(rep.OK()))

					a := sdkrun.Compare(o, rep)
					Expect(a.Agree).To(BeTrue(), "SDK: %s; doctor: %s; %s", a.SDK, a.Doctor, a.Why)
					Expect(o.Result).To(Equal(sdkrun.Succeeded), "a documented path, no fault: the real client gets through")

					// Every form a secret may take (raw, percent-encoded, JSON-escaped, base64 …).
					for _, s := range c.secrets {
						for _, f := range redact.Forms(s) {
							for form, text := range map[string]string{"text": o.Diagnosis.Text, "html": o.Diagnosis.HTML, "json": string(o.Diagnosis.JSON)} {
								Expect(text).NotTo(ContainSubstring(f), "diagnose's %s holds a secret", form)
							}
						}
					}
				}, NodeTimeout(3*time.Minute))
			}
		})
	}
})
