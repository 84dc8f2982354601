package kfp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// rawServer answers every connection with reply, byte for byte, after
// reading the request's head: the misbehaviours net/http's server would
// never produce.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				_, _ = c.Write([]byte(reply))
			}(c)
		}
	}()
	return "http://" + l.Addr().String()
}

// credFunc is a Credentials from a function.
type credFunc func(*http.Request) error

func (f credFunc) Apply(r *http.Request) error { return f(r) }

// One case per connection failure class, each through the real client and
// the classifier: what the server (or the credential) did, and the id.
func TestConnectionFailureClasses(t *testing.T) {
	bigHeaders := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 100) + "Content-Length: 2\r\n\r\n{}"
	server500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
	}))
	t.Cleanup(server500.Close)
	envelope500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"Failed to list experiments: InternalServerError: Failed to start transaction: dial tcp mysql:3306: connect: connection refused","code":13,"message":"Failed to list experiments: InternalServerError: Failed to start transaction"}`))
	}))
	t.Cleanup(envelope500.Close)
	server501 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Not Implemented", http.StatusNotImplemented)
	}))
	t.Cleanup(server501.Close)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	t.Cleanup(ok.Close)
	bell := func(_ context.Context) Credentials {
		b, _, _ := credentials.BearerFromEnv("T", func(string) string { return "tok\x07en-value" }, nil)
		return b
	}
	nulCookie := func(_ context.Context) Credentials {
		c, _ := credentials.NewCookies("session=ab\x00cd", nil)
		return c
	}
	rawHeader := func(_ context.Context) Credentials {
		// Bypasses the credentials package: Go's transport refuses it.
		return credFunc(func(r *http.Request) error { r.Header.Set("Cookie", "a=b\x01c"); return nil })
	}
	cases := []struct {
		name  string
		url   string
		creds func(context.Context) Credentials
		want  kfd.ID
		says  string
	}{
		{"malformed status line", rawServer(t, "HTTP/1.1 abc OK\r\n\r\n"), nil, kfd.MalformedHTTP, "malformed HTTP status code"},
		{"not HTTP at all", rawServer(t, "SSH-2.0-OpenSSH_9.6\r\n"), nil, kfd.MalformedHTTP, "malformed HTTP response"},
		{"broken chunking", rawServer(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), nil, kfd.MalformedHTTP, "chunk"},
		{"body shorter than its length", rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}"), nil, kfd.MalformedHTTP, "unexpected EOF"},
		{"two Content-Lengths", rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"), nil, kfd.ConflictingLength, "two different Content-Length"},
		{"huge headers", rawServer(t, bigHeaders), nil, kfd.HeadersTooLarge, "64 KiB"},
		{"unparsable Location", rawServer(t, "HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n"), nil, kfd.BadRedirect, "not a URL"},
		{"non-HTTP Location", rawServer(t, "HTTP/1.1 302 Found\r\nLocation: ftp://files.example.com/x?token=abc\r\nContent-Length: 0\r\n\r\n"), nil, kfd.BadRedirect, `non-HTTP URL (unsupported protocol scheme "ftp")`},
		{"token with a control byte", ok.URL, bell, kfd.HeaderUnsafeCredential, "control byte 0x07"},
		{"cookie with a NUL", ok.URL, nulCookie, kfd.HeaderUnsafeCredential, "control byte 0x00"},
		{"header Go's transport refuses", ok.URL, rawHeader, kfd.HeaderUnsafeCredential, "invalid header field value"},
		{"500 on the list call", server500.URL, nil, kfd.ServerError, "HTTP 500"},
		{"500 envelope on the list call", envelope500.URL, nil, kfd.ServerError, "code 13"},
		{"501 on the list call", server501.URL, nil, kfd.ServerError, "HTTP 501"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			base, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			var creds Credentials
			if c.creds != nil {
				creds = c.creds(ctx)
			}
			client, err := NewClient(base, creds, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdle()
			_, reply, err := client.ListExperiments(ctx, V2beta1, "ns-1")
			d := Classify(reply, err)
			if d.KFD != c.want || !strings.Contains(d.Summary, c.says) {
				t.Fatalf("Classify = %s %q; want %s saying %q (err %v)", d.KFD, d.Summary, c.want, c.says, err)
			}
			if strings.Contains(d.Summary, "token=abc") || strings.Contains(d.Summary, "files.example.com") {
				t.Fatalf("the redirect target is quoted: %s", d.Summary)
			}
			if _, ok := kfd.Lookup(d.KFD); !ok || d.KFD.Doc() == "" {
				t.Fatalf("%s has no catalogue entry", d.KFD)
			}
		})
	}
}

// A static token is checked when it is applied, and the error says why
// without quoting the token.
func TestHeaderSafeNamesTheByte(t *testing.T) {
	err := credentials.HeaderSafe("abc\x7fdef")
	if !errors.Is(err, credentials.ErrNotHeaderSafe) || !strings.Contains(err.Error(), "0x7f at position 3") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("err = %v", err)
	}
	if err := credentials.HeaderSafe("eyJ.abc-_~+/=\tné"); err != nil {
		t.Fatalf("a valid value refused: %v", err)
	}
}
