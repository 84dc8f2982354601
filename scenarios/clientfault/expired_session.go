package clientfault

import (
	"errors"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// ExpiredSession sends the session's cookies after the gateway ended the
// session (the path's install shortens it).
func ExpiredSession() s.ClientChange {
	return change(func(c *s.Client) error {
		if c.Session == nil {
			return errors.New("this fault ends the path's session, and the path has none")
		}
		c.ExpireSession = true
		return nil
	})
}
