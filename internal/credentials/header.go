package credentials

import (
	"errors"
	"fmt"
)

// ErrNotHeaderSafe marks a credential that cannot go in an HTTP header: Go's
// transport would refuse the request with "invalid header field value", and
// a server would never see it. The classifier names it KFD045.
var ErrNotHeaderSafe = errors.New("cannot go in an HTTP header")

// HeaderSafe checks v as net/http does for a header value (RFC 7230
// field-value: visible ASCII, space, tab and obs-text; no control bytes),
// naming the first offending byte by position, never by the value around it.
func HeaderSafe(v string) error {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return fmt.Errorf("holds control byte 0x%02x at position %d: it %w", b, i, ErrNotHeaderSafe)
		}
	}
	return nil
}
