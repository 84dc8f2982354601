package probes

import (
	"context"
	"net"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
)

// A refused connection is a missing port-forward outside a cluster, and a
// Service without ready endpoints inside one.
func TestRefusedDependsOnWhereTheDoctorRuns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, c := range []struct {
		inPod bool
		want  kfd.ID
	}{{false, kfd.NothingListening}, {true, kfd.BackendNotReady}} {
		base, _ := kfp.ParseHost("http://" + addr)
		client, err := kfp.NewClient(base, nil, kfp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res := healthzProbe().Run(context.Background(), &Target{Client: client, InPod: c.inPod})
		if res.KFD != c.want {
			t.Errorf("in pod %t: %s %q, want %s", c.inPod, res.KFD, res.Message, c.want)
		}
	}
}
