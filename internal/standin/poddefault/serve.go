package poddefault

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// certReloader serves the key pair in two files, re-read when either
// changes: cert-manager renews the Secret and the kubelet swaps the mounted
// files, and upstream's webhook would need a restart for that.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime [2]time.Time
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var mt [2]time.Time
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			if c.cert != nil {
				return c.cert, nil // mid-swap: keep serving the last pair
			}
			return nil, err
		}
		mt[i] = fi.ModTime()
	}
	if c.cert != nil && mt == c.modTime {
		return c.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		if c.cert != nil {
			return c.cert, nil
		}
		return nil, err
	}
	c.cert, c.modTime = &pair, mt
	return c.cert, nil
}

// Serve serves h over TLS on addr with the key pair in certFile and keyFile
// until ctx ends, then shuts down within 5 s. The pair must load at start,
// so a missing or wrong Secret fails the pod at once, with the reason in its
// log. ready, if not nil, is called with the listening address.
func Serve(ctx context.Context, addr, certFile, keyFile string, h http.Handler, ready func(net.Addr)) error {
	cr := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := cr.get(nil); err != nil {
		return fmt.Errorf("loading the serving certificate (%s, %s): %w; the Secret mounted there must hold tls.crt and tls.key for the Service's DNS names", certFile, keyFile, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.get},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	if ready != nil {
		ready(l.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(l, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
