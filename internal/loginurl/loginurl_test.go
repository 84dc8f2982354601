package loginurl

import "testing"

func TestIsString(t *testing.T) {
	cases := map[string]bool{
		"/dex/auth?client_id=x":                                   true,
		"http://gw/oauth2/start?rd=%2Fpipeline":                   true,
		"https://gw/prefix/authservice/oidc/callback":             true,
		"/login?rd=/pipeline":                                     true,
		"https://kc/realms/kubeflow/protocol/openid-connect/auth": true,
		"https://accounts.google.com/o/oauth2/v2/auth":            true,
		"https://x.auth.us-east-1.amazoncognito.com/LOGIN":        true,
		"/dex":                               true,
		"/pipeline/apis/v2beta1/experiments": false,
		"/pipeline/":                         false,
		"/loginpage":                         false,
		"/catalogue/dexterity":               false,
		"https://gw/?next=/dex/":             false, // the query is not the path
	}
	for in, want := range cases {
		if got := IsString(in); got != want {
			t.Errorf("IsString(%q) = %v, want %v", in, got, want)
		}
	}
}
