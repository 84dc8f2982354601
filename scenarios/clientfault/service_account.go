package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// ServiceAccount mints the client's token for the ServiceAccount
// "namespace/name" instead of the path's.
func ServiceAccount(sa string) s.ClientChange {
	return change(func(c *s.Client) error {
		if c.Token.Kind != s.MintedToken {
			return errNoMinted
		}
		c.Token.ServiceAccount = sa
		return nil
	})
}
