package scenarios

import (
	"fmt"
	"maps"
)

// Client is what one kfp.Client call is made of — where it runs, what it
// is given, what the files around it hold — as a path declares it and a
// client fault changes it. It is data: each kind of client the runner has
// (a local process as the pod on kwok, a real Pod of the doctor's image, a
// process outside the cluster) makes every field of it real, so a fault is
// written once, as a change to a Client (package clientfault).
type Client struct {
	// Path is the path as declared, its pointers copied: a fault may
	// change its Host, Namespace, Token, Login, Pod's env and labels.
	Path
	// Port, when set, replaces the port of the URL the call goes to (outside,
	// the local end of the port-forward).
	Port int
	// TokenFiles say what the pod's projected ServiceAccount token volumes
	// hold, however they came (declared on the pod or merged by a PodDefault).
	TokenFiles TokenFiles
	// ContextFile, when set, is ~/.config/kfp/context.json: the SDK's keys
	// (namespace, client_authentication_header_name/_value) and their values.
	ContextFile map[string]string
	// ExpireSession: the Session's cookies are sent after the gateway has
	// ended the session.
	ExpireSession bool
}

// TokenFiles is the content of a pod's projected token volumes.
type TokenFiles struct {
	// Missing: the volumes are not mounted (their files are absent).
	Missing bool
	// Audience, when set, is the tokens' audience instead of the volume's.
	Audience string
	// Expired: a token past its exp, as a client that cached the file has.
	Expired bool
	// BoundToDeletedPod: a token bound to a pod that has since been deleted.
	BoundToDeletedPod bool
}

// Changed reports whether the tokens differ from what the volume declares.
func (t TokenFiles) Changed() bool { return t != TokenFiles{} }

// ClientChange is a client fault: how it changes the client of a path.
// Change says why the fault does not apply to a path's client (an
// in-cluster fault on an outside client) instead of changing it.
type ClientChange interface {
	Change(c *Client) error
}

// ClientChangeFunc is a ClientChange of a function.
type ClientChangeFunc func(c *Client) error

// Change implements ClientChange.
func (f ClientChangeFunc) Change(c *Client) error { return f(c) }

// ClientOf is the client of case c: its path's, changed by its fault's
// client change. The scenario's data is never changed.
func (s *Scenario) ClientOf(c Case) (Client, error) {
	p, ok := s.Path(c.Path)
	if !ok {
		return Client{}, fmt.Errorf("%s: unknown path %q", s.Name, c.Path)
	}
	cl := Client{Path: p.clone()}
	if c.Fault == "" {
		return cl, nil
	}
	f, ok := s.Fault(c.Fault)
	if !ok {
		return Client{}, fmt.Errorf("%s: unknown fault %q", s.Name, c.Fault)
	}
	if f.Client != nil {
		if err := f.Client.Change(&cl); err != nil {
			return Client{}, fmt.Errorf("%s: fault %s on path %s: %w", s.Name, f.Name, p.Name, err)
		}
	}
	return cl, nil
}

// clone copies what a fault may change through a pointer or a map.
func (p Path) clone() Path {
	if p.Pod != nil {
		pod := *p.Pod
		pod.Labels = maps.Clone(pod.Labels)
		pod.Env = maps.Clone(pod.Env)
		if pod.Volume != nil {
			v := *pod.Volume
			pod.Volume = &v
		}
		p.Pod = &pod
	}
	for _, l := range []**Login{&p.Login, &p.Session} {
		if *l != nil {
			c := **l
			*l = &c
		}
	}
	if p.PortForward != nil {
		pf := *p.PortForward
		p.PortForward = &pf
	}
	return p
}

// InPod reports whether the client runs in a pod (an in-cluster path).
func (c *Client) InPod() bool { return c.Pod != nil }
