package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// ListenError means the listen address could not be bound: something the
// user must fix (another process on the port, a bad host), not a crash.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	msg := e.Err.Error()
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		msg = "address already in use"
	}
	return fmt.Sprintf("listen %s: %s", e.Addr, msg)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Listen binds addr (host:port) for Serve.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, &ListenError{Addr: addr, Err: err}
	}
	return ln, nil
}

// PublicURL returns configured when set, else a base URL derived from the
// bound listener, so a random port (":0") still yields correct absolute
// URLs; an all-interfaces address becomes "localhost".
func PublicURL(configured string, tls bool, ln net.Listener) string {
	if configured != "" {
		return configured
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}).String()
}
