package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// ForeignIssuerURL is the iss of ForeignIssuer's token.
const ForeignIssuerURL = "https://issuer.example.com"

// ForeignIssuer sends a token shaped like the cluster's, signed by another
// key with another iss: an issuer the cluster's gateway does not list.
func ForeignIssuer() s.ClientChange {
	return change(func(c *s.Client) error {
		if c.Token.Kind != s.MintedToken {
			return errNoMinted
		}
		c.Token.Issuer = ForeignIssuerURL
		return nil
	})
}
