// Package endpoint is how registry-stack's client commands (export,
// import, mirror) reach a registry: credentials, TLS, timeouts and
// reference parsing, in one place so they behave alike.
package endpoint

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Endpoint is how to reach one registry: credentials and TLS.
type Endpoint struct {
	Username, Password string
	// Insecure allows plain HTTP and TLS certificates that do not verify.
	Insecure bool
	// UserAgent names the client in the registry's logs.
	UserAgent string
	// Idle cuts a connection on which no byte moved for this long, either
	// way (default DefaultIdle): a registry that stalls in the middle of a
	// blob fails the command instead of hanging it.
	Idle time.Duration
}

// DefaultIdle is as long as the transport waits for a response's headers:
// a registry may take minutes to commit a large blob before it answers.
const DefaultIdle = 5 * time.Minute

// String names the endpoint without its password, should it ever be
// printed.
func (ep Endpoint) String() string {
	return fmt.Sprintf("user %q, insecure %v", ep.Username, ep.Insecure)
}

// NameOptions are the options to parse references to this endpoint with.
func (ep Endpoint) NameOptions() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if ep.Insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// ParseReference reads a full reference host[:port]/repo:tag or
// host[:port]/repo@digest; the registry host is required, since guessing
// Docker Hub is never right in a lab.
func (ep Endpoint) ParseReference(s string) (name.Reference, error) {
	first, _, ok := strings.Cut(s, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return nil, fmt.Errorf("reference %q: name the registry, as in host:port/repository:tag", s)
	}
	ref, err := name.ParseReference(s, ep.NameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", s, err)
	}
	return ref, nil
}

// Registry reads a --to style HOST[:PORT].
func (ep Endpoint) Registry(host string) (name.Registry, error) {
	if host == "" || strings.ContainsAny(host, "/@") {
		return name.Registry{}, fmt.Errorf("%q: want HOST[:PORT]", host)
	}
	reg, err := name.NewRegistry(host, ep.NameOptions()...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("%q: %w", host, err)
	}
	return reg, nil
}

// Transport has a timeout on connecting, on the TLS handshake, on waiting
// for each response's headers and on any silence (Idle), but none on a
// whole body: a large blob takes as long as it needs while bytes move, and
// a registry that stops answering does not hang the command. The wait for
// headers is generous because a registry answers an upload's final PUT
// only once the blob is committed, which on slow object storage takes a
// while.
func (ep Endpoint) Transport() *http.Transport {
	idle := ep.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = DefaultIdle
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConnsPerHost = 16
	if ep.Insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure
	}
	return t
}

// AuthOption logs in with the endpoint's credentials, else with those of
// the Docker config (as docker login left them), else anonymously.
func (ep Endpoint) AuthOption() remote.Option {
	if ep.Username != "" || ep.Password != "" {
		return remote.WithAuth(&authn.Basic{Username: ep.Username, Password: ep.Password})
	}
	return remote.WithAuthFromKeychain(authn.DefaultKeychain)
}

// RemoteOptions are the go-containerregistry options for this endpoint:
// AuthOption, Transport (or base, when not nil), the user agent and ctx.
func (ep Endpoint) RemoteOptions(ctx context.Context, base http.RoundTripper) []remote.Option {
	if base == nil {
		base = ep.Transport()
	}
	if !ep.Insecure {
		base = plainHTTPGuard{base}
	}
	opts := []remote.Option{remote.WithTransport(base), remote.WithContext(ctx), remote.WithJobs(4), ep.AuthOption()}
	if ep.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(ep.UserAgent))
	}
	return opts
}

// idleConn moves its deadline before every read and write, so only
// silence, not a long transfer, ends it.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// plainHTTPGuard refuses plain HTTP beyond loopback. go-containerregistry
// falls back from HTTPS to HTTP for private addresses (10/8, 172.16/12,
// 192.168/16) on its own, where someone on the path could force the
// fallback and read the password or pick the token realm; --insecure is
// the user's say-so.
type plainHTTPGuard struct{ next http.RoundTripper }

func (g plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Hostname()) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s (credentials and content would travel unprotected): give --insecure to allow it", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
