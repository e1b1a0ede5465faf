package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

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
	s.runUntilClose(ctx, keys.Run)
	routes.Ready = append(routes.Ready, server.Check{Name: "keycloak-keys", Func: func(context.Context) error {
		if keys.Ready() {
			return nil
		}
		if err := keys.LastError(); err != nil {
			return fmt.Errorf("signing keys of realm %q not loaded from %s: %w", kc.Realm, realm.CertsURL(), err)
		}
		return errors.New("signing keys not loaded yet")
	}})

	tokenURL := o.PublicURL + cfg.TokenPath()
	verify := tokenauth.Options{Realm: tokenURL, Service: kc.Service, Keys: keys}
	issuerLog := kc.Issuer
	if kc.Issuer != "" {
		verify.Issuers = []string{kc.Issuer}
	} else {
		// Keycloak builds "iss" from the URL it was reached at (unless its
		// hostname is pinned): ask it, over the URL the token endpoint uses.
		issuer := keycloak.NewIssuer(client, realm, kc.KeyRefresh.D(), log.With("component", "keycloak"))
		s.runUntilClose(ctx, issuer.Run)
		routes.Ready = append(routes.Ready, server.Check{Name: "keycloak-issuer", Func: func(context.Context) error {
			if err := issuer.Ready(); err != nil {
				return fmt.Errorf("issuer of realm %q not discovered from %s (set keycloak.issuer to pin it): %w", kc.Realm, realm.DiscoveryURL(), err)
			}
			return nil
		}})
		verify.IssuerSource = issuer
		issuerLog = "discovered from " + realm.DiscoveryURL()
	}
	reg.AccessController = tokenauth.Name
	reg.AccessControllerParams = map[string]any{tokenauth.OptionsKey: verify}

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
		"token_endpoint", tokenURL, "issuer", issuerLog)
	return nil
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
