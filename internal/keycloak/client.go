package keycloak

import (
	"io"
	"net"
	"net/http"
	"time"
)

// Connection bounds towards Keycloak. Every Keycloak call of one process
// shares one transport: under load the idle pool is large enough that calls
// reuse connections instead of opening one per call (the standard library
// keeps only two idle per host), and when Keycloak is slow the number of
// connections stays capped instead of growing with the waiting clients.
const (
	MaxConnsPerHost     = 64
	MaxIdleConnsPerHost = 32
	idleConnTimeout     = 90 * time.Second
)

// NewTransport returns a transport for calls to Keycloak with a timeout on
// every phase up to the response headers; a body is bounded by the caller
// (a client timeout or a context), so streamed pages are not cut short.
func NewTransport(timeout time.Duration) *http.Transport {
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = timeout
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConns = MaxIdleConnsPerHost
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	t.MaxConnsPerHost = MaxConnsPerHost
	t.IdleConnTimeout = idleConnTimeout
	return t
}

// NewClient returns a client on transport with a hard timeout per call that
// never follows redirects: from Keycloak's API a redirect means a wrong URL
// or a required action, and following it would only hide that.
func NewClient(transport http.RoundTripper, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxDrain is how much of an unread answer is read to keep its connection.
const maxDrain = 64 << 10

// DrainClose reads what is left of a small answer and closes it, so the
// connection goes back to the pool; a connection whose body is closed
// unread is torn down, and under load that churns connections.
func DrainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}

// defaultClient is the client used when a caller supplies none.
func defaultClient() *http.Client {
	return NewClient(NewTransport(defaultHTTPTimeout), defaultHTTPTimeout)
}
