// Command probe is the test program of the node provider's specs, run as the
// only file of a locally built image. Each subcommand prints one line and
// exits non-zero on failure, so a Pod's phase and logs are the result:
//
//	probe serve ADDR        serve HTTP 200 "ok" on ADDR until SIGTERM
//	probe get URL           GET URL until it answers 200 (bounded: 60 s)
//	probe lookup NAME       resolve NAME through the pod's resolver (bounded)
//	probe token PATH        print the claims aud, sub and lifetime of the JWT
//	                        at PATH (never the token itself)
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | get URL | lookup NAME | token PATH")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2])
	case "get":
		err = get(ctx, os.Args[2])
	case "lookup":
		err = lookup(ctx, os.Args[2])
	case "token":
		err = token(os.Args[2])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("serving on", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// get retries because a Service's rules appear in kube-proxy a moment after
// its endpoints do; the bound keeps a broken path from hanging the pod.
func get(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("GET %s -> %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %w (last: %v)", url, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func lookup(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		if err == nil {
			fmt.Printf("%s -> %s\n", name, strings.Join(addrs, ","))
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("lookup %s: %w (last: %v)", name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// token prints what a test needs to know of a projected ServiceAccount
// token, as JSON; the signature and the raw token stay unprinted.
func token(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	if len(parts) != 3 {
		return fmt.Errorf("%s is not a JWT (%d parts)", path, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("decoding the claims of %s: %w", path, err)
	}
	var c struct {
		Aud any    `json:"aud"`
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return fmt.Errorf("parsing the claims of %s: %w", path, err)
	}
	out, _ := json.Marshal(map[string]any{"aud": c.Aud, "sub": c.Sub, "lifetimeSeconds": c.Exp - c.Iat})
	fmt.Println(string(out))
	return nil
}
