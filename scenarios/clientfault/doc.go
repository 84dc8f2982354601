// Package clientfault holds the client faults, one per file: each a change
// to a scenarios.Client — what a kfp.Client call is given and what the files
// around it hold — written once and made real by every kind of client the
// runner has (a local process as the pod on kwok, a real Pod of the
// doctor's image, a process outside the cluster). A fault that does not
// apply to a path's client says so instead of changing it.
//
// Adding a fault is a file here (its constructor and its Change) and its
// test; a scenario then names it in its Faults.
package clientfault

import (
	"errors"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// errOutside and errInPod are why a fault does not apply to a client.
var (
	errOnlyInPod   = errors.New("this fault is for in-cluster paths (a client in a pod)")
	errOnlyOutside = errors.New("this fault is for out-of-cluster paths")
	errNoMinted    = errors.New("this fault changes the token minted for the client, and the path mints none")
	errNoHost      = errors.New("this fault changes the host, and kfp.Client() is given none in a pod")
)

// change is the ClientChange of f.
func change(f func(c *s.Client) error) s.ClientChange { return s.ClientChangeFunc(f) }
