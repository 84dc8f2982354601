package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// Host passes host= h instead of the path's, from a pod (an in-cluster
// name such as http://ml-pipeline-ui.namespace-2).
func Host(h string) s.ClientChange {
	return change(func(c *s.Client) error {
		if !c.InPod() {
			return errOnlyInPod
		}
		c.Host = h
		return nil
	})
}
