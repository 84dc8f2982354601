package clientfault

import (
	"testing"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// The three shapes of client a fault meets.
func inPod() s.Client {
	return s.Client{Path: s.Path{Name: "pod", Host: "http://ml-pipeline.kubeflow:8888", Namespace: "profile",
		Token: s.Token{Kind: s.VolumeToken}, Pod: &s.Pod{Namespace: "profile", ServiceAccount: "default-editor"}}}
}

func sdkDefaultInPod() s.Client {
	c := inPod()
	c.Host = ""
	return c
}

func outside() s.Client {
	return s.Client{Path: s.Path{Name: "forward", Host: "/pipeline", Namespace: "profile",
		PortForward: &s.PortForward{Service: "ml-pipeline-ui", Port: 80},
		Token:       s.Token{Kind: s.MintedToken, ServiceAccount: "profile/default-editor", Audience: "pipelines.kubeflow.org"}}}
}

func throughGateway() s.Client {
	c := outside()
	c.Token = s.Token{}
	c.Login = &s.Login{Username: "user@example.com", Password: "12341234", Connector: "local"}
	return c
}

// apply applies f to c, failing the test on an error.
func apply(t *testing.T, f s.ClientChange, c s.Client) s.Client {
	t.Helper()
	if err := f.Change(&c); err != nil {
		t.Fatalf("Change: %v", err)
	}
	return c
}

// refuses checks that f says it does not apply to c.
func refuses(t *testing.T, f s.ClientChange, c s.Client) {
	t.Helper()
	if err := f.Change(&c); err == nil {
		t.Errorf("Change applied to client %s, which it does not fit", c.Name)
	}
}
