// Command fixedport is a small real server run as a pod by the lab's tests,
// the way KFP's API server runs: unchanged, as in a container. It reads the
// in-cluster config from its fixed paths (client-go's
// rest.InClusterConfig: the ServiceAccount token and CA under
// /var/run/secrets/kubernetes.io/serviceaccount/, KUBERNETES_SERVICE_HOST
// and _PORT) and asks the API server who it is, listens on the fixed ports
// 8887 (a stand-in for KFP's gRPC, which the server dials itself as
// localhost:8887) and 8888 (HTTP), and takes the flags of KFP's image's
// command line. It exits 1 on any failure: a port in use among them.
//
// GET /apis/v1beta1/healthz answers as KFP's does (tag_name from its
// image's ENV TAG_NAME); GET /whoami says who it is, where, which VERSION
// (its pod's env), and its Service links. FIXEDPORT_CRASH=1 makes it panic
// once it serves.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	// KFP's image runs /bin/apiserver --config=/config
	// --sampleconfig=/config/sample_config.json -logtostderr=true.
	flag.String("config", "", "KFP's flag, ignored")
	flag.String("sampleconfig", "", "KFP's flag, ignored")
	flag.Bool("logtostderr", false, "KFP's flag, ignored")
	flag.Parse()
	// FIXEDPORT_CRASH=1 panics once serving: a crash's log, for a test.
	if err := run(os.Getenv("FIXEDPORT_CRASH") == "1"); err != nil {
		fmt.Fprintln(os.Stderr, "fixedport:", err)
		os.Exit(1)
	}
}

func run(crash bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(rctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("asking the API server who I am: %w", err)
	}
	user := review.Status.UserInfo.Username
	fmt.Fprintf(os.Stderr, "fixedport: I am %s\n", user)

	grpc, err := net.Listen("tcp", ":8887")
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := grpc.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "grpc")
			c.Close()
		}
	}()
	// KFP's HTTP gateway dials its own gRPC server as localhost:8887.
	self, err := net.DialTimeout("tcp", "localhost:8887", 5*time.Second)
	if err != nil {
		return fmt.Errorf("dialling myself: %w", err)
	}
	line, _ := bufio.NewReader(self).ReadString('\n')
	self.Close()
	if line != "grpc\n" {
		return fmt.Errorf("localhost:8887 answered %q, not my gRPC port", line)
	}
	ln, err := net.Listen("tcp", ":8888")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/v1beta1/healthz", func(w http.ResponseWriter, _ *http.Request) {
		tag := os.Getenv("TAG_NAME")
		if tag == "" {
			tag = "unknown"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"commit_sha": "fixedport", "tag_name": tag, "multi_user": os.Getenv("MULTIUSER") == "true"})
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, _ *http.Request) {
		links := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_SERVICE_HOST") {
				links[k] = v
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"user": user, "hostname": host, "version": os.Getenv("VERSION"), "links": links})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "fixedport: serving on :8888 and :8887")
	if crash {
		var m map[string]int
		m["crash"]++ // a nil map: the runtime panics, as a real bug would
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
