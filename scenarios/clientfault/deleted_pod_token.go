package clientfault

import s "github.com/kfp-connect/kfp-connect/scenarios"

// DeletedPodToken puts a token bound to a pod that has since been deleted
// in the pod's token file: the cluster refuses it.
func DeletedPodToken() s.ClientChange {
	return change(func(c *s.Client) error {
		if !c.InPod() {
			return errOnlyInPod
		}
		c.TokenFiles.BoundToDeletedPod = true
		return nil
	})
}
