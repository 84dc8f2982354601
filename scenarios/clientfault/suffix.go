package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// Suffix appends suffix to the host's URL: a wrong path, such as
// /pipelines for /pipeline.
func Suffix(suffix string) s.ClientChange {
	return change(func(c *s.Client) error {
		if c.InPod() && c.Host == "" {
			return errNoHost
		}
		c.Host += suffix
		return nil
	})
}
