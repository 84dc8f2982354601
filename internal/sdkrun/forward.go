package sdkrun

import (
	"context"
	"io"
	"net"
	"sync"
)

// DialFunc dials an address as the emulated pod would (cluster names and
// ClusterIPs resolved through the cluster, as the doctor's Dial seam does).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Forwarders serves, for each of addrs ("name:port" as the SDK dials it), a
// local port whose connections dial goes on with: the emulated pod's Dial
// map. close stops them and the connections they carry.
func Forwarders(ctx context.Context, dial DialFunc, addrs []string) (dialMap map[string]string, close func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var lns []net.Listener
	close = func() {
		cancel()
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}
	dialMap = map[string]string{}
	for _, addr := range addrs {
		if _, done := dialMap[addr]; done {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			close()
			return nil, nil, err
		}
		lns = append(lns, ln)
		dialMap[addr] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, ln, dial, addr, &wg)
		}()
	}
	return dialMap, close, nil
}

func serve(ctx context.Context, ln net.Listener, dial DialFunc, addr string, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			up, err := dial(ctx, "tcp", addr)
			if err != nil {
				return // the client sees the connection close, as a refused dial
			}
			defer up.Close()
			stop := context.AfterFunc(ctx, func() { c.Close(); up.Close() })
			defer stop()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
			<-done
		}()
	}
}
