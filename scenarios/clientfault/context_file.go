package clientfault

import (
	"errors"
	"maps"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// ContextNamespace leaves ~/.config/kfp/context.json holding namespace ns,
// as an earlier set_user_namespace (or a kfp.Client() in another pod
// sharing the home volume) would: it wins over the pod's own namespace.
func ContextNamespace(ns string) s.ClientChange {
	return contextKeys(map[string]string{"namespace": ns})
}

// ContextHeader leaves ~/.config/kfp/context.json holding
// client_authentication_header_name/_value: a header the SDK then sends on
// every call (name: value).
func ContextHeader(name, value string) s.ClientChange {
	return contextKeys(map[string]string{"client_authentication_header_name": name, "client_authentication_header_value": value})
}

func contextKeys(keys map[string]string) s.ClientChange {
	return change(func(c *s.Client) error {
		if c.ServiceProxy {
			return errors.New("kfp.Client() with no host outside a pod reads no context.json this suite can set")
		}
		c.ContextFile = maps.Clone(c.ContextFile)
		if c.ContextFile == nil {
			c.ContextFile = map[string]string{}
		}
		maps.Copy(c.ContextFile, keys)
		return nil
	})
}
