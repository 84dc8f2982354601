package clientfault

import (
	"maps"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
)

// TokenPathEnv sets the pod's KF_PIPELINES_SA_TOKEN_PATH to path, where no
// volume is mounted (a typo in the notebook's env, a volume moved): the
// SDK's volume credentials read that path and find no file.
func TokenPathEnv(path string) s.ClientChange {
	return change(func(c *s.Client) error {
		if !c.InPod() {
			return errOnlyInPod
		}
		c.Pod.Env = maps.Clone(c.Pod.Env)
		if c.Pod.Env == nil {
			c.Pod.Env = map[string]string{}
		}
		c.Pod.Env[kubeflow.TokenPathEnv] = path
		return nil
	})
}
