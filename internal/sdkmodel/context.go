package sdkmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/kfp-connect/kfp-connect/internal/localfile"
)

// MaxContextFile bounds what ReadContext reads (the bounded reader's cap
// for the kind): context.json holds a namespace, a cookie and a header;
// anything larger is not the SDK's file.
var MaxContextFile = localfile.ContextJSON.Max()

// Context is ~/.config/kfp/context.json as Client._load_context_setting_or_default
// reads it (json.load of the whole file).
type Context struct {
	Path string
	// Err is set when json.load would raise (not JSON, or not an object):
	// the constructor then fails before any request.
	Err error
	// Namespace is the "namespace" key; HasNamespace is false when the
	// key is missing (the constructor then raises KeyError unless
	// namespace= is given). null counts as empty, as Python's `not None`.
	Namespace    string
	HasNamespace bool
	// Cookie is client_authentication_cookie; HeaderName and HeaderValue
	// client_authentication_header_name and _value. Cookie and HeaderValue
	// are secrets: callers register them with their redactor.
	Cookie      string
	HeaderName  string
	HeaderValue string
}

// ContextPath is where the SDK looks: os.path.expanduser('~/.config/kfp/
// context.json'), ~ being $HOME. "" when there is no home.
func ContextPath(home string) string {
	if home == "" {
		return ""
	}
	return filepath.Join(home, ContextFileRelPath)
}

// ReadContext reads the context file at path through the doctor's bounded
// reader (a regular file only, so a FIFO there cannot block; at most
// localfile.ContextJSON's cap). A missing file is (nil, nil), as
// os.path.exists is false for the SDK. An error is for a file the doctor
// cannot read at all (permission, a directory, too large); what the SDK would
// choke on is in Context.Err.
func ReadContext(ctx context.Context, path string) (*Context, error) {
	if path == "" {
		return nil, nil
	}
	b, err := localfile.Read(ctx, path, localfile.ContextJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the SDK's context file: %w", err)
	}
	return ParseContext(path, b), nil
}

// ParseContext decodes the content of a context file.
func ParseContext(path string, b []byte) *Context {
	c := &Context{Path: path}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		c.Err = fmt.Errorf("not a JSON object (json.load: %w)", err)
		return c
	}
	str := func(key string) (string, bool, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", ok, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", ok, fmt.Errorf("%q is not a string", key)
		}
		return s, ok, nil
	}
	var errs []error
	var err error
	c.Namespace, c.HasNamespace, err = str("namespace")
	errs = append(errs, err)
	c.Cookie, _, err = str("client_authentication_cookie")
	errs = append(errs, err)
	c.HeaderName, _, err = str("client_authentication_header_name")
	errs = append(errs, err)
	c.HeaderValue, _, err = str("client_authentication_header_value")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		// The SDK would pass a non-string on to urllib3 or the API, and
		// fail there; the doctor refuses to guess what it would send.
		c.Err = err
	}
	return c
}
