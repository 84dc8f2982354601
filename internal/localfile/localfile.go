// Package localfile is the one reader of every local input the doctor is
// given (token files, cookie files, CA bundles, kubeconfigs, the SDK's
// context.json). Each kind has a size cap; devices, FIFOs, sockets and
// directories are refused by name before anything is read, and the open
// itself cannot block. An endless file used to end the doctor in "fatal
// error: out of memory", and a FIFO blocked it through --timeout and Ctrl-C.
package localfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Kind is what a file is for; it decides the cap and the words of errors.
type Kind int

const (
	// Token is a bearer token file (--token-file, --token-path): a
	// projected ServiceAccount token is about 1 KB.
	Token Kind = iota
	// Cookies is a --cookies @file: one Cookie header.
	Cookies
	// CABundle is a --ca-cert PEM bundle; the system's whole bundle is about
	// 200 KB.
	CABundle
	// Kubeconfig is a --kubeconfig (or $KUBECONFIG entry); kubeconfigs with
	// embedded certificates for many clusters stay well under 1 MB.
	Kubeconfig
	// ContextJSON is the KFP SDK's context.json (~/.config/kfp/context.json).
	ContextJSON
	// ClientConfig is a --client-config document: a kfp.Client call's
	// arguments, written by the Python package.
	ClientConfig
)

// Max is the cap for files of this kind.
func (k Kind) Max() int64 {
	switch k {
	case Token, Cookies:
		return 64 << 10
	case CABundle:
		return 4 << 20
	case Kubeconfig:
		return 16 << 20
	case ContextJSON:
		return 64 << 10 // a namespace, a cookie and a header
	case ClientConfig:
		return 64 << 10 // a host, a token, cookies and a few paths
	}
	return 1 << 20
}

func (k Kind) String() string {
	switch k {
	case Token:
		return "token file"
	case Cookies:
		return "cookie file"
	case CABundle:
		return "CA bundle"
	case Kubeconfig:
		return "kubeconfig"
	case ContextJSON:
		return "KFP context file"
	case ClientConfig:
		return "kfp.Client description"
	}
	return "file"
}

// Error is a local input that could not be read; Err is the cause
// (fs.ErrNotExist, fs.ErrPermission, ErrTooLarge, ErrNotRegular …).
type Error struct {
	Kind Kind
	Path string
	Msg  string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s %s", e.Kind, e.Path, e.Msg) }
func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrTooLarge: the file holds more than its kind's cap.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular: a directory, device, FIFO or socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrEmpty: the file holds nothing (or only white space, for ReadLine).
	ErrEmpty = errors.New("empty")
)

// Read returns the whole file at path, at most k.Max() bytes. It stats before
// it opens (a FIFO or device is named, never opened for a blocking read),
// opens with O_NONBLOCK (a path swapped for a FIFO in between cannot block the
// open), checks the opened file again, and reads through a cap that reports
// "larger than N" instead of reading on. ctx bounds the read between chunks.
func Read(ctx context.Context, path string, k Kind) ([]byte, error) {
	fail := func(msg string, err error) error { return &Error{Kind: k, Path: path, Msg: msg, Err: err} }
	if err := ctx.Err(); err != nil {
		return nil, fail("was not read: "+err.Error(), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, describe(k, path, err)
	}
	if err := regular(fi, k); err != nil {
		return nil, fail(err.Error(), ErrNotRegular)
	}
	if fi.Size() > k.Max() {
		return nil, fail(fmt.Sprintf("is larger than %s (%s): not a %s", size(k.Max()), size(fi.Size()), k), ErrTooLarge)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, describe(k, path, err)
	}
	defer f.Close()
	// The path may have changed between the stat and the open.
	if fi, err = f.Stat(); err != nil {
		return nil, describe(k, path, err)
	} else if err := regular(fi, k); err != nil {
		return nil, fail(err.Error(), ErrNotRegular)
	}
	b, err := io.ReadAll(io.LimitReader(ctxReader{ctx, f}, k.Max()+1))
	if err != nil {
		return nil, fail("could not be read: "+err.Error(), err)
	}
	// Files in /proc and growing files report a size that is not what a
	// read returns: the cap on the read is the one that counts.
	if int64(len(b)) > k.Max() {
		return nil, fail(fmt.Sprintf("is larger than %s: not a %s", size(k.Max()), k), ErrTooLarge)
	}
	return b, nil
}

func regular(fi fs.FileInfo, k Kind) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("is a directory: pass the %s inside it", k)
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("is a FIFO (named pipe), which could block the doctor: write the %s to a regular file", k)
	case m&fs.ModeSocket != 0:
		return fmt.Errorf("is a socket, not a %s", k)
	case m&fs.ModeDevice != 0:
		return fmt.Errorf("is a device, not a %s", k)
	}
	return fmt.Errorf("is not a regular file (%s)", m.Type())
}

func describe(k Kind, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Kind: k, Path: path, Msg: "does not exist", Err: err}
	case errors.Is(err, fs.ErrPermission):
		return &Error{Kind: k, Path: path, Msg: "is not readable by this user", Err: err}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	return &Error{Kind: k, Path: path, Msg: "could not be read: " + err.Error(), Err: err}
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ctxReader stops a read between chunks once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
