package doctor

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// quiet seams: no environment but what a test gives, no files, no pod.
func quiet(env map[string]string) Seams {
	return Seams{Getenv: envOf(env), ServiceAccountDir: "/nonexistent-sa", DefaultTokenPath: "/nonexistent-token"}
}

func resolveFor(t *testing.T, cfg Config, s Seams) *Plan {
	t.Helper()
	r := &resolver{cfg: cfg, s: s.withDefaults(), red: &redact.Redactor{}, d: newDeadlines(cfg)}
	t.Cleanup(r.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := r.resolve(ctx)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return p
}

// Where the host came from is in the plan, read once: --host, the SDK's own
// $KF_PIPELINES_ENDPOINT (left for the SDK model to read, so it says so),
// and the gateway's /pipeline with --username.
func TestPlanHostAndItsSource(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		name       string
		cfg        Config
		env        map[string]string
		wantArg    string
		wantURL    string
		wantSource string
		wantFlag   string
	}{
		{"--host", Config{Host: "http://kfp.example:3000"}, nil, "http://kfp.example:3000", "http://kfp.example:3000", "host=", "--host"},
		{"--host wins over the variable", Config{Host: "http://a.example"}, map[string]string{EnvHost: "http://b.example"}, "http://a.example", "http://a.example", "host=", "--host"},
		{"$KF_PIPELINES_ENDPOINT", Config{}, map[string]string{EnvHost: "http://b.example"}, "", "http://b.example", "$KF_PIPELINES_ENDPOINT", "$KF_PIPELINES_ENDPOINT"},
		{"--username puts KFP at the gateway's /pipeline", Config{Host: "http://gw.example:8080", Username: "u@example.com"},
			map[string]string{EnvPassword: "pw"}, "http://gw.example:8080/pipeline", "http://gw.example:8080/pipeline", "the gateway's /pipeline: --username logs in at --host", "--host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Timeout = time.Second
			env := map[string]string{"HOME": home}
			for k, v := range c.env {
				env[k] = v
			}
			p := resolveFor(t, c.cfg, quiet(env))
			if p.HostArg != c.wantArg || p.Call.URL != c.wantURL || string(p.Call.Host.Source) != c.wantSource || p.Given.Flag() != c.wantFlag {
				t.Fatalf("host arg %q url %q source %q flag %q", p.HostArg, p.Call.URL, p.Call.Host.Source, p.Given.Flag())
			}
			if p.site != nil {
				t.Fatal("a given host keeps the run off the cluster")
			}
		})
	}
}

// The credential chain records each link and where it came from, in the
// order the SDK sends them.
func TestPlanCredentialChain(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, EnvCookies: "session=abc", sdkmodel.EnvTokenPath: "/from/env"}
	p := resolveFor(t, Config{Host: "http://kfp.example", TokenFile: tok, Timeout: time.Second}, quiet(env))
	got := []string{}
	for _, c := range p.Credentials {
		got = append(got, c.Kind+" from "+c.From)
	}
	want := []string{"static token from --token-file " + tok, "cookies from $" + EnvCookies}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chain %q, want %q", got, want)
	}

	// The token path's precedence is the SDK model's: the variable, then
	// the default, and the plan says which.
	p = resolveFor(t, Config{Host: "http://kfp.example", VolumeCredentials: true, Timeout: time.Second}, quiet(map[string]string{"HOME": dir, sdkmodel.EnvTokenPath: "/from/env"}))
	if len(p.Credentials) != 1 || p.Credentials[0].Kind != "token file" || p.Credentials[0].From != "$"+sdkmodel.EnvTokenPath || p.Call.TokenPath != "/from/env" {
		t.Fatalf("volume credentials: %+v, path %q", p.Credentials, p.Call.TokenPath)
	}
}

// The deadlines are named and settled once from --timeout and
// --request-timeout.
func TestDeadlines(t *testing.T) {
	cases := []struct {
		cfg  Config
		want Deadlines
	}{
		{Config{Timeout: 10 * time.Second}, Deadlines{Run: 10 * time.Second, Connect: maxConnect, KubeCall: maxConnect, Probe: maxRequest, LoginRequest: maxRequest, PasswordRead: 10 * time.Second}},
		{Config{Timeout: time.Second}, Deadlines{Run: time.Second, Connect: time.Second, KubeCall: time.Second, Probe: time.Second, LoginRequest: time.Second, PasswordRead: time.Second}},
		{Config{Timeout: 10 * time.Second, RequestTimeout: 7 * time.Second}, Deadlines{Run: 10 * time.Second, Connect: maxConnect, KubeCall: 7 * time.Second, Probe: maxRequest, LoginRequest: maxRequest, PasswordRead: 10 * time.Second}},
	}
	for _, c := range cases {
		if got := newDeadlines(c.cfg); got != c.want {
			t.Errorf("%+v: %+v, want %+v", c.cfg, got, c.want)
		}
	}
}

// Run takes the Config by value, so only what it shares with the caller (the
// slices) could be written through; a run with every kind of input leaves
// the caller's Config deeply equal to what it was.
func TestRunLeavesTheConfigAsGiven(t *testing.T) {
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")})
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"http://127.0.0.1:1\"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: ctx, context: {cluster: c, user: u, namespace: team-a}}]\ncurrent-context: ctx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	configs := map[string]Config{
		"host and token": {Host: s.URL, Namespace: "ns-1", TokenFile: tok, Timeout: 3 * time.Second},
		"the variable":   {Namespace: "ns-1", Timeout: 3 * time.Second},
		"login":          {Host: s.URL, Username: "u@example.com", LoginConnector: "local", Timeout: 3 * time.Second},
		"cluster":        {Kubeconfig: kc, Impersonate: "alice", ImpersonateGroups: []string{"g1", "g2"}, RequestTimeout: time.Second, Timeout: 3 * time.Second},
		"usage error":    {Host: s.URL, TokenFile: tok, TokenPath: tok, Timeout: 3 * time.Second},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			before := cfg
			before.ImpersonateGroups = append([]string(nil), cfg.ImpersonateGroups...)
			if len(cfg.ImpersonateGroups) == 0 {
				before.ImpersonateGroups = cfg.ImpersonateGroups
			}
			seams := quiet(map[string]string{"HOME": dir, EnvHost: s.URL, EnvPassword: "pw"})
			_, _ = Run(context.Background(), cfg, seams, &redact.Redactor{})
			if !reflect.DeepEqual(before, cfg) {
				t.Fatalf("Run changed the config:\n before %+v\n after  %+v", before, cfg)
			}
		})
	}
}

// The rule behind the plan, checked on the source: no function of this
// package assigns to a Config it was given (a parameter or receiver of type
// Config or *Config, a variable named cfg, the resolver's cfg field), or to
// any field of one. Deriving goes into the Plan.
func TestNoFunctionWritesItsConfig(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			var params []*ast.Field
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				if fn.Recv != nil {
					params = append(params, fn.Recv.List...)
				}
				params, body = append(params, fn.Type.Params.List...), fn.Body
			case *ast.FuncLit:
				params, body = fn.Type.Params.List, fn.Body
			default:
				return true
			}
			names := map[string]bool{}
			for _, p := range params {
				if isConfigType(p.Type) {
					for _, n := range p.Names {
						names[n.Name] = true
					}
				}
			}
			if body == nil {
				return true
			}
			checked++
			ast.Inspect(body, func(n ast.Node) bool {
				var lhs []ast.Expr
				switch st := n.(type) {
				case *ast.AssignStmt:
					for _, e := range st.Lhs {
						// cfg := r.cfg declares a copy to read; := never
						// writes through one.
						if _, plain := e.(*ast.Ident); plain && st.Tok == token.DEFINE {
							continue
						}
						lhs = append(lhs, e)
					}
				case *ast.IncDecStmt:
					lhs = []ast.Expr{st.X}
				case *ast.UnaryExpr:
					// &cfg.X or &cfg hands out a pointer to write through.
					if st.Op == token.AND {
						lhs = []ast.Expr{st.X}
					}
				}
				for _, e := range lhs {
					if root := rootIdent(e); root != nil && (names[root.Name] || root.Name == "cfg" || viaCfgField(e)) {
						t.Errorf("%s: writes (or hands out) %s, the Config it was given; put what is derived in the Plan", fset.Position(e.Pos()), types.ExprString(e))
					}
				}
				return true
			})
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d function bodies checked: the check checks nothing", checked)
	}
}

// viaCfgField: an lvalue through a field named cfg (the resolver's r.cfg).
func viaCfgField(e ast.Expr) bool {
	for {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			if x.Sel.Name == "cfg" {
				return true
			}
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return false
		}
	}
}

func isConfigType(e ast.Expr) bool {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "Config"
}

// rootIdent is the variable an lvalue writes into: cfg for cfg.Host,
// cfg.Groups[0] and *cfg.
func rootIdent(e ast.Expr) *ast.Ident {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x
		case *ast.SelectorExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return nil
		}
	}
}
