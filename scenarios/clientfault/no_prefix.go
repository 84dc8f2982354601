package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// NoPrefix drops the path's prefix (such as /pipeline) from the URL outside
// the cluster: the port-forward's root instead.
func NoPrefix() s.ClientChange {
	return change(func(c *s.Client) error {
		if c.InPod() || c.PortForward == nil {
			return errOnlyOutside
		}
		c.Host = ""
		return nil
	})
}
