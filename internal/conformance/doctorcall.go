package conformance

import "github.com/kfp-connect/kfp-connect/internal/doctor"

// doctorCall is one doctor run of a path: the user's configuration and the
// seams that make the doctor act as the path's client (a pod's files, its
// environment, its view of cluster DNS). Both embed, so a path sets either
// kind of field on one value.
type doctorCall struct {
	doctor.Config
	doctor.Seams
}
