package clientfault

import "testing"

func TestDeletedPodToken(t *testing.T) {
	if c := apply(t, DeletedPodToken(), inPod()); !c.TokenFiles.BoundToDeletedPod {
		t.Error("the token is not bound to a deleted pod")
	}
	refuses(t, DeletedPodToken(), outside())
}
