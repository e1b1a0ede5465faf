package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/registry-stack/registry-stack/internal/authproxy"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/server"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// wireKeycloak sets up keycloak mode: the live signing key set (and its
// readiness check), the registry's token access controller and the token
// endpoint in front of Keycloak.
func (s *Stack) wireKeycloak(ctx context.Context, cfg *config.Config, o Options, routes *server.Routes, reg *registry.Options) error {
	kc := cfg.Keycloak
	realm, err := keycloak.ParseRealm(kc.URL, kc.Realm)
	if err != nil {
		// ParseRealm names the setting at fault itself.
		return &config.Error{Source: "keycloak settings", Msg: err.Error()}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// One client with a hard timeout for every call the stack makes to
	// Keycloak on its own behalf (discovery, keys).
	client := &http.Client{
		Timeout: kc.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}

	keys := keycloak.NewKeySet(keycloak.KeySetOptions{
		Client:          client,
		Realm:           realm,
		RefreshInterval: kc.KeyRefresh.D(),
		Logger:          log.With("component", "keycloak"),
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		keys.Run(runCtx)
	}()
	s.stop = append(s.stop, func() { cancel(); <-done })
	routes.Ready = append(routes.Ready, server.Check{Name: "keycloak-keys", Func: func(context.Context) error {
		if keys.Ready() {
			return nil
		}
		if err := keys.LastError(); err != nil {
			return fmt.Errorf("signing keys of realm %q not loaded from %s: %w", kc.Realm, realm.CertsURL(), err)
		}
		return errors.New("signing keys not loaded yet")
	}})

	issuers := issuersFor(ctx, cfg, client, realm, log)
	tokenURL := o.PublicURL + cfg.TokenPath()
	reg.AccessController = tokenauth.Name
	reg.AccessControllerParams = map[string]any{tokenauth.OptionsKey: tokenauth.Options{
		Realm:   tokenURL,
		Service: kc.Service,
		Issuers: issuers,
		Keys:    keys,
	}}

	upstream, err := url.Parse(realm.DockerAuthURL())
	if err != nil {
		return fmt.Errorf("keycloak docker-v2 URL: %w", err)
	}
	proxyOpts := authproxy.Options{
		UpstreamURL:           upstream,
		Realm:                 kc.Realm,
		Service:               kc.Service,
		AllowedOrigins:        kc.CORSOrigins,
		TrustForwardedHeaders: kc.TrustForwardedHeaders,
		Timeout:               kc.Timeout.D(),
		Logger:                log,
		PublicURL:             cfg.PublicURL,
	}
	token, err := authproxy.New(proxyOpts)
	if err != nil {
		return err
	}
	routes.TokenPath = cfg.TokenPath()
	routes.Token = token
	if kc.ProxyAll {
		pass, err := authproxy.NewPassthrough(realm.BaseURL, "/auth", proxyOpts)
		if err != nil {
			return err
		}
		routes.AuthPassthrough = pass
	}
	log.Info("keycloak mode", "keycloak_url", kc.URL, "realm", kc.Realm, "service", kc.Service,
		"token_endpoint", tokenURL, "issuers", issuers)
	return nil
}

// issuersFor returns the accepted token issuers: the configured one, or the
// one Keycloak announces in its discovery document over the same URL the
// token endpoint uses (Keycloak builds "iss" from the URL it was reached
// at). If Keycloak cannot be asked at startup the realm URL is assumed,
// which is what Keycloak announces unless its hostname is pinned.
func issuersFor(ctx context.Context, cfg *config.Config, client *http.Client, realm keycloak.Realm, log *slog.Logger) []string {
	if cfg.Keycloak.Issuer != "" {
		return []string{cfg.Keycloak.Issuer}
	}
	assumed := realm.IssuerURL()
	dctx, cancel := context.WithTimeout(ctx, min(cfg.Keycloak.Timeout.D(), 5*time.Second))
	defer cancel()
	discovered, err := keycloak.DiscoverIssuer(dctx, client, realm)
	if err != nil {
		log.Warn("keycloak issuer discovery failed; assuming the realm URL (set keycloak.issuer to pin it)",
			"issuer", assumed, "err", err)
		return []string{assumed}
	}
	if discovered == assumed {
		return []string{discovered}
	}
	return []string{discovered, assumed}
}
