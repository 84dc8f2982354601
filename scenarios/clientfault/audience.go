package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// Audience makes the client's token for another audience: in a pod, what
// its projected token volumes hold; outside, the token minted for it (as
// `kubectl create token` without --audience does).
func Audience(audience string) s.ClientChange {
	return change(func(c *s.Client) error {
		switch {
		case c.InPod():
			c.TokenFiles.Audience = audience
		case c.Token.Kind == s.MintedToken:
			c.Token.Audience = audience
		default:
			return errNoMinted
		}
		return nil
	})
}
