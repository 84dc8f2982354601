package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// NoCredentials passes no credentials (no credentials=, no
// existing_token=): nothing identifies the user.
func NoCredentials() s.ClientChange {
	return change(func(c *s.Client) error {
		c.Token = s.Token{}
		return nil
	})
}
