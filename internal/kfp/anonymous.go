package kfp

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// maxAnonymousBody caps the page read by Anonymous: a sign-in page or an
// identity provider's error is a few KB, and only its start is looked at.
const maxAnonymousBody = 64 << 10

// Anonymous asks path (relative to the base) as a browser with no session
// would: GET, Accept text/html, no credentials, and no redirect followed, so
// that the gateway's first answer — where it sends a stranger — is what
// comes back. It goes through the client's own transport (the same TLS
// settings, dialer and route as every other call). A login stack's sign-in
// is recognised from this answer (internal/distro) without the doctor
// sending anything of the user's to it.
func (c *Client) Anonymous(ctx context.Context, path string) (*Reply, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	// RoundTrip, not Do: no redirect is followed and no jar or credentials
	// take part.
	resp, err := c.http.Transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxAnonymousBody+1))
	reply := &Reply{Method: http.MethodGet, URL: u.Redacted(), StatusCode: resp.StatusCode, Header: resp.Header, Body: got, red: c.red}
	if len(got) > maxAnonymousBody {
		reply.Body, reply.Truncated = got[:maxAnonymousBody], true
	}
	if err != nil && !reply.Truncated {
		return reply, fmt.Errorf("reading the reply: %w", err)
	}
	return reply, nil
}
