package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// ExpiredToken puts a token past its exp in the pod's token file, as a
// client holds that cached the file's content.
func ExpiredToken() s.ClientChange {
	return change(func(c *s.Client) error {
		if !c.InPod() {
			return errOnlyInPod
		}
		c.TokenFiles.Expired = true
		return nil
	})
}
