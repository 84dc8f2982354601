package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// Port connects to port instead of the URL's: a port the Service does not
// serve in a pod, a local port with no port-forward behind it outside.
func Port(port int) s.ClientChange {
	return change(func(c *s.Client) error {
		if c.InPod() && c.Host == "" {
			return errNoHost
		}
		c.Port = port
		return nil
	})
}
