package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// Namespace passes namespace= ns instead of the path's ("" for none).
func Namespace(ns string) s.ClientChange {
	return change(func(c *s.Client) error {
		c.Namespace = ns
		return nil
	})
}
