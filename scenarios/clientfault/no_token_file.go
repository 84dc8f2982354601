package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// NoTokenFile leaves the pod's projected token volumes unmounted: the
// files KF_PIPELINES_SA_TOKEN_PATH and the default path name are absent.
func NoTokenFile() s.ClientChange {
	return change(func(c *s.Client) error {
		if !c.InPod() {
			return errOnlyInPod
		}
		c.TokenFiles.Missing = true
		return nil
	})
}
