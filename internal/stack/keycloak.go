package stack

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/registry-stack/registry-stack/internal/authproxy"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/server"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// authMode is what an auth mode adds to a stack; the zero value (auth:
// none) adds nothing.
type authMode struct {
	// access verifies the registry's bearer tokens.
	access *tokenauth.Options
	// token is the docker token endpoint, mounted at tokenPath; a browser
	// on a listed origin may call it with tokenMethods.
	token        http.Handler
	tokenPath    string
	tokenMethods string
	// passthrough serves every other /auth/ request (keycloak.proxy_all);
	// exact are further public documents at exactly their paths (the
	// JWKS), which listed origins may read.
	passthrough http.Handler
	exact       map[string]http.Handler
	// wrapRegistry puts a handler in front of next, the registry's API
	// (the filtered catalog).
	wrapRegistry func(reg *registry.Registry, next http.Handler) http.Handler
	// policy is oidc mode's live policy, for reloads.
	policy *policy.Live
	// checks gate readiness: signing keys loaded, issuer known.
	checks []server.Check
	// background keeps key sets and issuers fresh until the stack closes.
	background []func(context.Context)
}

// newKeycloakMode builds keycloak mode from a validated configuration:
// the live signing key set, the issuer, the registry's token verification
// and the token endpoint in front of Keycloak.
func newKeycloakMode(cfg *config.Config, publicURL string, log *slog.Logger) (*authMode, error) {
	kc := cfg.Keycloak
	realm, err := keycloak.ParseRealm(kc.URL, kc.Realm)
	if err != nil {
		return nil, err // Validate has accepted it: not reached
	}
	// One client, on one bounded connection pool, for every call the stack
	// makes to Keycloak: discovery, keys, token requests and passthrough.
	client := keycloak.NewClient(keycloak.NewTransport(kc.Timeout.D()), kc.Timeout.D())
	kcLog := log.With("component", "keycloak")
	m := &authMode{tokenPath: cfg.TokenPath(), tokenMethods: "GET"}

	keys := keycloak.NewKeySet(keycloak.KeySetOptions{
		Client:          client,
		Realm:           realm,
		RefreshInterval: kc.KeyRefresh.D(),
		Logger:          kcLog,
	})
	m.background = append(m.background, keys.Run)
	m.checks = append(m.checks, keys)

	tokenURL := publicURL + m.tokenPath
	m.access = &tokenauth.Options{TokenURL: tokenURL, Service: kc.Service, Keys: keys}
	issuerLog := kc.Issuer
	if kc.Issuer != "" {
		m.access.Issuers = []string{kc.Issuer}
	} else {
		// Keycloak builds "iss" from the URL it was reached at (unless its
		// hostname is pinned): ask it, over the URL the token endpoint uses.
		issuer := keycloak.NewIssuer(client, realm, kc.KeyRefresh.D(), kcLog)
		m.background = append(m.background, issuer.Run)
		m.checks = append(m.checks, issuer)
		m.access.IssuerSource = issuer
		issuerLog = "discovered from " + realm.DiscoveryURL()
	}

	upstream, err := url.Parse(realm.DockerAuthURL())
	if err != nil {
		return nil, err
	}
	proxyOpts := authproxy.Options{
		UpstreamURL:           upstream,
		KeycloakRealm:         kc.Realm,
		Service:               kc.Service,
		TrustForwardedHeaders: kc.TrustForwardedHeaders,
		Timeout:               kc.Timeout.D(),
		Client:                client,
		Logger:                log,
	}
	if cfg.PublicURL != "" {
		if proxyOpts.PublicURL, err = url.Parse(cfg.PublicURL); err != nil {
			return nil, err // Validate has accepted it: not reached
		}
	}
	if m.token, err = authproxy.New(proxyOpts); err != nil {
		return nil, err
	}
	if kc.ProxyAll {
		if m.passthrough, err = authproxy.NewPassthrough(realm.BaseURL, "/auth", proxyOpts); err != nil {
			return nil, err
		}
	}
	log.Info("keycloak mode", "keycloak_url", kc.URL, "realm", kc.Realm, "service", kc.Service,
		"token_endpoint", tokenURL, "issuer", issuerLog)
	return m, nil
}
