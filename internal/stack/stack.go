// Package stack assembles one registry-stack process from its configuration:
// the embedded registry, the token endpoint, the UI and the probes, as one
// http.Handler for server.Serve.
package stack

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/referrers"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/registryerrors"
	"github.com/registry-stack/registry-stack/internal/server"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// Stack is one assembled process, ready to serve.
type Stack struct {
	Handler  http.Handler
	registry *registry.Registry
	// policy is oidc mode's live policy; nil in the other modes.
	policy *policy.Live
	stop   []func()
}

// Options carries what the stack needs beyond its configuration.
type Options struct {
	Logger *slog.Logger
	// PublicURL is the base URL clients reach the stack at (see
	// server.PublicURL); challenges name the token endpoint under it.
	PublicURL string
	Version   string
}

// New builds every component from a validated configuration. Background
// work (key refresh) runs until ctx is cancelled or the stack is closed.
func New(ctx context.Context, cfg *config.Config, o Options) (st *Stack, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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
	// The stack's own collectors live on their own registry, served next to
	// the default one where distribution registers its metrics.
	metrics := prometheus.NewRegistry()
	routes := server.Routes{
		Metrics: promhttp.InstrumentMetricHandler(prometheus.DefaultRegisterer,
			promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, metrics}, promhttp.HandlerOpts{})),
		Logger: o.Logger,
	}
	regOpts := registry.Options{Metrics: true, Host: hostFor(cfg), Logger: o.Logger}
	var mode *authMode
	switch cfg.Auth {
	case config.AuthKeycloak:
		mode, err = newKeycloakMode(&effective, o.PublicURL, o.Logger)
	case config.AuthOIDC:
		mode, err = newOIDCMode(&effective, o.PublicURL, o.Logger)
	default:
		mode = &authMode{}
	}
	if err != nil {
		return nil, err
	}
	for _, f := range mode.background {
		s.runUntilClose(ctx, f)
	}
	if mode.access != nil {
		regOpts.AccessController = tokenauth.Name
		regOpts.AccessControllerParams = map[string]any{tokenauth.OptionsKey: *mode.access}
	}
	routes.TokenPath, routes.Token = mode.tokenPath, mode.token
	routes.AuthPassthrough, routes.Exact = mode.passthrough, mode.exact
	s.policy = mode.policy
	reg, err := registry.New(ctx, &effective, regOpts)
	if err != nil {
		return nil, err
	}
	s.registry = reg
	if err := metrics.Register(reg.Collector()); err != nil {
		return nil, err
	}
	// The referrers API sits in front of distribution and authorizes its
	// listings with the same token verification as the registry's routes.
	refOpts := referrers.Options{Store: reg.Referrers(), Manifests: reg, Logger: o.Logger, Upstream: reg.UpstreamReferrers()}
	if mode.access != nil {
		if refOpts.Access, err = tokenauth.New(*mode.access); err != nil {
			return nil, err
		}
	}
	routes.Registry = referrers.New(refOpts, reg)
	if mode.wrapRegistry != nil {
		routes.Registry = mode.wrapRegistry(reg, routes.Registry)
	}
	// Outermost, so the filtered catalog's answers are guarded too.
	routes.Registry = registryerrors.New(routes.Registry, registryerrors.Options{Logger: o.Logger, Upstream: reg.Upstream()})
	routes.Ready = append([]server.Check{reg.StorageCheck()}, mode.checks...)
	if cfg.UI.Enabled {
		h, err := newUI(cfg, o)
		if err != nil {
			return nil, err
		}
		routes.UI = h
	}
	if err := withCORS(cfg, &routes, mode.tokenMethods); err != nil {
		return nil, err
	}
	s.Handler = server.NewHandler(routes)
	return s, nil
}

// ReloadPolicy compiles cfg's policy and puts it in force at once: a
// request sees either the old policy or the new one, never a mix. An
// invalid policy leaves the old one in force and is returned. Outside oidc
// mode there is no policy and nothing happens.
func (s *Stack) ReloadPolicy(cfg *config.Config) error {
	if s.policy == nil {
		return nil
	}
	p, err := cfg.CompilePolicy()
	if err != nil {
		return err
	}
	s.policy.Swap(p)
	return nil
}

// hostFor returns the registry's absolute base URL only when one was
// configured; otherwise distribution derives it from each request, which
// keeps Location headers right behind any host name.
func hostFor(cfg *config.Config) string {
	return strings.TrimRight(cfg.PublicURL, "/")
}

// runUntilClose runs f in the background until ctx is cancelled or the
// stack is closed, and Close waits for it to return.
func (s *Stack) runUntilClose(ctx context.Context, f func(context.Context)) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(runCtx)
	}()
	s.stop = append(s.stop, func() { cancel(); <-done })
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
