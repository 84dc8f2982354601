package programs

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestWebhookAndOpenLDAPUsage runs the two programs as their images'
// entrypoints would, where they cannot work, and checks they say why.
func TestWebhookAndOpenLDAPUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		env  map[string]string
		want string
	}{
		// Outside a pod there is no ServiceAccount to list PodDefaults with.
		{"webhook outside a pod", []string{"/kfp-standin", "poddefault-webhook", "--tlsCertFile=/etc/webhook/certs/tls.crt", "--tlsKeyFile=/etc/webhook/certs/tls.key"},
			map[string]string{"KUBERNETES_SERVICE_HOST": ""}, "reads PodDefaults with the pod's ServiceAccount"},
		{"webhook bad flag", []string{"/kfp-standin", "poddefault-webhook", "--port=1"}, nil, "flag provided but not defined: -port"},
		{"webhook stray argument", []string{"/kfp-standin", "poddefault-webhook", "serve"}, nil, `unexpected arguments ["serve"]`},
		{"openldap stray argument", []string{"/kfp-standin", "openldap", "/opt/bitnami/scripts/openldap/run.sh"}, nil, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			code := Standin(context.Background(), tc.argv, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", code, stderr.String(), tc.want)
			}
		})
	}
}
