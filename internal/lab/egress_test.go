package lab

import (
	"net"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func runtimeWithServices(t *testing.T, svcs ...*corev1.Service) *Runtime {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, s := range svcs {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return &Runtime{services: idx}
}

func service(ns, name, ip string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

// The pods' DNS answers the cluster's Services as CoreDNS would, and
// nothing else.
func TestAnswerDNS(t *testing.T) {
	r := runtimeWithServices(t,
		service("kubeflow", "ml-pipeline", "10.0.0.20", 8888, 8887),
		service("auth", "dex", "10.0.0.30", 5556),
		service("kubeflow", "headless", corev1.ClusterIPNone, 80))
	ask := func(name string, typ dnsmessage.Type) dnsmessage.Message {
		t.Helper()
		q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
			Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}}}
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.answerDNS(b)
		if err != nil {
			t.Fatal(err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		if m.ID != 7 || !m.Response || len(m.Questions) != 1 {
			t.Fatalf("%s: header %+v, questions %v", name, m.Header, m.Questions)
		}
		return m
	}
	m := ask("ml-pipeline.kubeflow.svc.cluster.local.", dnsmessage.TypeA)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 || net.IP(m.Answers[0].Body.(*dnsmessage.AResource).A[:]).String() != "10.0.0.20" {
		t.Errorf("A ml-pipeline: %v %v", m.RCode, m.Answers)
	}
	if m := ask("DEX.auth.svc.cluster.local.", dnsmessage.TypeA); len(m.Answers) != 1 {
		t.Errorf("names are case-insensitive: %v", m.Answers)
	}
	// A name that exists with no address of the type asked: no answer, no error.
	for name, typ := range map[string]dnsmessage.Type{"ml-pipeline.kubeflow.svc.cluster.local.": dnsmessage.TypeAAAA, "headless.kubeflow.svc.cluster.local.": dnsmessage.TypeA} {
		if m := ask(name, typ); m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
			t.Errorf("%s %v: %v %v", name, typ, m.RCode, m.Answers)
		}
	}
	// The search path's tries and names outside the cluster do not exist.
	for _, name := range []string{"ml-pipeline.kubeflow.svc.cluster.local.kubeflow.svc.cluster.local.", "ml-pipeline.svc.cluster.local.", "example.com.", "nope.kubeflow.svc.cluster.local."} {
		if m := ask(name, dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("%s: %v, want NXDOMAIN", name, m.RCode)
		}
	}
	if got := r.servicePorts(); len(got) != 4 || got[0] != 80 || got[3] != 8888 {
		t.Errorf("service ports %v", got)
	}
	if s := r.serviceByIP("10.0.0.30"); s == nil || s.Name != "dex" {
		t.Errorf("by IP: %v", s)
	}
}
