// Package stack assembles one registry-stack process from its configuration:
// the embedded registry, the token endpoint, the UI and the probes, behind
// one listener.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/server"
)

// ListenError means the listen address could not be bound; the CLI treats it
// as a configuration error.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	msg := e.Err.Error()
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		msg = "address already in use"
	}
	return fmt.Sprintf("listen %s: %s (set listen, REGISTRY_STACK_LISTEN or --listen)", e.Addr, msg)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Listen binds the configured address.
func Listen(ctx context.Context, cfg *config.Config) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, &ListenError{Addr: cfg.Listen, Err: err}
	}
	return ln, nil
}

// PublicURL returns the configured public URL or one derived from the bound
// listener, so a random port (":0") still yields correct absolute URLs.
func PublicURL(cfg *config.Config, ln net.Listener) string {
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}).String()
}

// Stack is one assembled process, ready to serve.
type Stack struct {
	Handler  http.Handler
	registry *registry.Registry
	stop     []func()
}

// Options carries what the stack needs beyond its configuration.
type Options struct {
	Logger    *slog.Logger
	PublicURL string
	Version   string
}

// New builds every component. Background work (key refresh) runs until ctx
// is cancelled.
func New(ctx context.Context, cfg *config.Config, o Options) (st *Stack, err error) {
	secret, err := registry.EnsureHTTPSecret(cfg.HTTPSecret, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	effective := *cfg
	effective.HTTPSecret = secret

	s := &Stack{}
	defer func() {
		if err != nil {
			s.Close() // stop key refresh started before the failure
		}
	}()
	routes := server.Routes{
		Metrics: promhttp.Handler(),
		Logger:  o.Logger,
	}
	regOpts := registry.Options{Metrics: true, Host: hostFor(cfg)}
	if cfg.Auth == config.AuthKeycloak {
		if err := s.wireKeycloak(ctx, &effective, o, &routes, &regOpts); err != nil {
			return nil, err
		}
	}
	reg, err := registry.New(ctx, &effective, regOpts)
	if err != nil {
		return nil, err
	}
	s.registry = reg
	routes.Registry = reg
	routes.Ready = append([]server.Check{{Name: "storage", Func: reg.CheckStorage}}, routes.Ready...)
	if cfg.UI.Enabled {
		h, err := newUI(cfg, o)
		if err != nil {
			return nil, err
		}
		routes.UI = h
	}
	s.Handler = server.NewHandler(routes)
	return s, nil
}

// hostFor returns the registry's absolute base URL only when one was
// configured; otherwise distribution derives it from each request, which
// keeps Location headers right behind any host name.
func hostFor(cfg *config.Config) string {
	return strings.TrimRight(cfg.PublicURL, "/")
}

// Close releases background resources.
func (s *Stack) Close() {
	for _, f := range s.stop {
		f()
	}
	if s.registry != nil {
		_ = s.registry.Shutdown()
	}
}
