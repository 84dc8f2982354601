package localfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fixtures every reader test uses: an endless file, a FIFO nobody writes,
// a directory, a sparse file far over every cap.
type hostile struct{ fifo, dir, sparse, over string }

func hostileFiles(t *testing.T) hostile {
	t.Helper()
	d := t.TempDir()
	h := hostile{fifo: filepath.Join(d, "fifo"), dir: filepath.Join(d, "dir"), sparse: filepath.Join(d, "sparse"), over: filepath.Join(d, "over")}
	if err := syscall.Mkfifo(h.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(h.sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil { // 64 GiB, no blocks
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(h.over, []byte(strings.Repeat("a", int(Token.Max())+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRead(t *testing.T) {
	h := hostileFiles(t)
	ok := filepath.Join(t.TempDir(), "ok")
	if err := os.WriteFile(ok, []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		kind       Kind
		want       error
		says       string
	}{
		{"regular", ok, Token, nil, ""},
		{"missing", filepath.Join(t.TempDir(), "nope"), Token, os.ErrNotExist, "does not exist"},
		{"endless device", "/dev/zero", Token, ErrNotRegular, "is a device"},
		{"FIFO", h.fifo, Cookies, ErrNotRegular, "is a FIFO"},
		{"directory", h.dir, CABundle, ErrNotRegular, "is a directory"},
		{"sparse 64 GiB", h.sparse, Kubeconfig, ErrTooLarge, "larger than 16 MiB"},
		{"one byte over", h.over, Token, ErrTooLarge, "larger than 64 KiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b, err := Read(ctx, c.path, c.kind)
			if c.want == nil {
				if err != nil || string(b) != "token\n" {
					t.Fatalf("Read = %q, %v", b, err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.kind.String()) {
				t.Fatalf("err = %v, want %v saying %q and naming the %s", err, c.want, c.says, c.kind)
			}
		})
	}
}

func TestReadHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, "/etc/hostname", Token); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadFirstLine(t *testing.T) {
	t.Run("a pipe that never delivers ends with the context", func(t *testing.T) {
		r, w := io.Pipe()
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ReadFirstLine(ctx, r, 64, "--password-stdin")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "--timeout") {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("took %s", took)
		}
	})
	cases := []struct {
		name, in, want string
		err            error
	}{
		{"first line only", "pass word\r\nsecond\n", "pass word", nil},
		{"no newline", "pw", "pw", nil},
		{"empty", "\n", "", ErrEmpty},
		{"too long", strings.Repeat("x", 65), "", ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadFirstLine(context.Background(), strings.NewReader(c.in), 64, "stdin")
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("ReadFirstLine = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}
