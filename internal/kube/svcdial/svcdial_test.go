package svcdial

import "testing"

// A kwok rule's target is an address on the API server's machine: the
// dialer uses it only when that machine is this one.
func TestOnThisMachine(t *testing.T) {
	for server, want := range map[string]bool{
		"https://127.0.0.1:6443":       true,
		"https://127.0.0.53:443":       true,
		"https://localhost:32768":      true,
		"https://[::1]:6443":           true,
		"https://10.0.0.1:443":         false,
		"https://kubernetes.default":   false,
		"https://api.example.com:6443": false,
		"://not a url":                 false,
	} {
		if got := OnThisMachine(server); got != want {
			t.Errorf("OnThisMachine(%q) = %t, want %t", server, got, want)
		}
	}
}
