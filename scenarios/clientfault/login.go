package clientfault

import (
	"errors"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// Login changes the path's login through Dex: another password, user or
// connector (the fields of l that are set).
func Login(l s.Login) s.ClientChange {
	return change(func(c *s.Client) error {
		if c.Login == nil {
			return errors.New("this fault changes the path's login, and the path logs in through no gateway")
		}
		for _, f := range []struct {
			to   *string
			from string
		}{{&c.Login.Username, l.Username}, {&c.Login.Password, l.Password}, {&c.Login.Connector, l.Connector}} {
			if f.from != "" {
				*f.to = f.from
			}
		}
		return nil
	})
}
