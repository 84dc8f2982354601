// Package kfptest holds what tests need to stand in for a KFP endpoint: the
// replies recorded from a real KFP 2.17.0 API server, and small httptest
// servers that replay them verbatim. Test code only.
package kfptest

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

//go:embed testdata/recorded.txt
var recorded []byte

// Recording is one recorded reply.
type Recording struct {
	Name   string
	Status int
	Body   string
}

// Recorded returns every recorded reply, by name.
func Recorded() map[string]Recording {
	out := map[string]Recording{}
	var cur *Recording
	var body []string
	sc := bufio.NewScanner(bytes.NewReader(recorded))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#") && cur == nil:
		case strings.HasPrefix(line, "== "):
			cur = &Recording{Name: strings.TrimPrefix(line, "== ")}
			body = nil
		case strings.HasPrefix(line, "[HTTP ") && cur != nil:
			code, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "[HTTP "), "]"))
			if err != nil {
				panic(fmt.Sprintf("kfptest: bad status line %q", line))
			}
			cur.Status, cur.Body = code, strings.Join(body, "\n")
			out[cur.Name] = *cur
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	return out
}

// Get returns one recording or panics: a typo in a test name is a bug.
func Get(name string) Recording {
	r, ok := Recorded()[name]
	if !ok {
		panic("kfptest: no recording named " + strconv.Quote(name))
	}
	return r
}

// Reply writes a recording as KFP would.
func Reply(w http.ResponseWriter, r Recording) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	_, _ = w.Write([]byte(r.Body))
}

// Routes maps a request path to a handler; Server answers unknown paths like
// KFP does (404, code 5).
type Routes map[string]http.HandlerFunc

// Server starts a KFP-like server; it is closed when the test ends.
func Server(t interface{ Cleanup(func()) }, routes Routes) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h, ok := routes[req.URL.Path]; ok {
			h(w, req)
			return
		}
		Reply(w, Get("observed: unknown path"))
	}))
	t.Cleanup(s.Close)
	return s
}

// Fixed is a handler that always answers with the recording.
func Fixed(name string) http.HandlerFunc {
	rec := Get(name)
	return func(w http.ResponseWriter, _ *http.Request) { Reply(w, rec) }
}

// Raw is a handler that answers status, content type and body as given.
func Raw(status int, contentType, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// UIHealthz is the UI server's own healthz shape.
func UIHealthz(apiServerReady, multiUser bool) http.HandlerFunc {
	body := fmt.Sprintf(`{"buildDate":"Tue Oct 21 2025","frontendCommitHash":"abc","frontendTagName":"2.17.0","apiServerReady":%t,"apiServerCommitHash":"def","apiServerTagName":"2.17.0","apiServerMultiUser":%t,"multi_user":%t,"pipelineStore":"database"}`,
		apiServerReady, multiUser, multiUser)
	if !apiServerReady {
		// A down API server: the UI still answers 200, without multi_user.
		body = `{"buildDate":"Tue Oct 21 2025","frontendCommitHash":"abc","frontendTagName":"2.17.0","apiServerReady":false}`
	}
	return Raw(http.StatusOK, "application/json", body)
}

// Paths of the API.
const (
	HealthzV2     = "/apis/v2beta1/healthz"
	HealthzV1     = "/apis/v1beta1/healthz"
	ExperimentsV2 = "/apis/v2beta1/experiments"
	ExperimentsV1 = "/apis/v1beta1/experiments"
)

// SilentServer accepts connections and never answers: a wrong port on a proxy,
// a stuck sidecar. It returns the URL; connections close when the test ends.
func SilentServer(t interface {
	Helper()
	Fatal(...any)
	Cleanup(func())
}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}
