package stack

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/registry-stack/registry-stack/internal/catalog"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/identity"
	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/signing"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
	"github.com/registry-stack/registry-stack/internal/tokenserver"
)

// JWKSPath serves the public keys of oidc mode's token signing keys.
const JWKSPath = "/auth/jwks"

// newOIDCMode builds oidc mode from a validated configuration: Keycloak's
// key set and issuer (to verify the access tokens it issues), the stack's
// own signing keys, the authenticator, the policy, the token endpoint and
// the registry's verification of the stack's tokens.
func newOIDCMode(cfg *config.Config, publicURL string, log *slog.Logger) (*authMode, error) {
	kc, o := cfg.Keycloak, cfg.OIDC
	realm, err := keycloak.ParseRealm(kc.URL, kc.Realm)
	if err != nil {
		return nil, err // Validate has accepted it: not reached
	}
	m := &authMode{tokenPath: o.TokenPath, tokenMethods: "GET, POST"}
	// One bounded connection pool for every call to Keycloak.
	client := keycloak.NewClient(keycloak.NewTransport(kc.Timeout.D()), kc.Timeout.D())
	kcLog := log.With("component", "keycloak")
	keys := keycloak.NewKeySet(keycloak.KeySetOptions{Client: client, Realm: realm, RefreshInterval: kc.KeyRefresh.D(), Logger: kcLog})
	m.background = append(m.background, keys.Run)
	m.checks = append(m.checks, keys)
	kcVerify := tokenauth.VerifierOptions{Keys: keys}
	if kc.Issuer != "" {
		kcVerify.Issuers = []string{kc.Issuer}
	} else {
		issuer := keycloak.NewIssuer(client, realm, kc.KeyRefresh.D(), kcLog)
		m.background = append(m.background, issuer.Run)
		m.checks = append(m.checks, issuer)
		kcVerify.IssuerSource = issuer
	}
	keycloakTokens, err := tokenauth.NewVerifier(kcVerify)
	if err != nil {
		return nil, err
	}

	signer, err := loadSigningKeys(cfg)
	if err != nil {
		return nil, err
	}
	m.exact = map[string]http.Handler{JWKSPath: signer.JWKSHandler()}

	compiled, err := cfg.CompilePolicy()
	if err != nil {
		return nil, err
	}
	m.policy = policy.NewLive(compiled)

	auth, err := identity.New(identity.Options{
		Realm: realm, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Audiences: o.Audiences,
		Verifier: keycloakTokens, Client: client, Timeout: kc.Timeout.D(),
		CacheTTL: cacheTTL(o.CacheTTL), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	// The stack's tokens name the stack as issuer: its public URL.
	issuerURL := publicURL
	m.token, err = tokenserver.New(tokenserver.Options{
		Issuer: issuerURL, Service: o.Service, TTL: o.TokenTTL.D(),
		Signer: signer, Auth: auth, Policy: m.policy,
		TrustForwardedHeaders: kc.TrustForwardedHeaders, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	m.access = &tokenauth.Options{TokenURL: publicURL + o.TokenPath, Service: o.Service, Issuers: []string{issuerURL}, Keys: signer}
	if o.AcceptKeycloakDockerTokens {
		// Tokens Keycloak's docker-v2 protocol signed (auth: keycloak) keep
		// working during a migration: its keys, its issuer, its audience.
		m.access.Keys = eitherKeys{signer, keys}
		m.access.Issuers = append(m.access.Issuers, kcVerify.Issuers...)
		m.access.IssuerSource = kcVerify.IssuerSource
		m.access.Audiences = []string{o.Service}
		if kc.Service != "" {
			m.access.Audiences = append(m.access.Audiences, kc.Service)
		}
		log.Warn("oidc.accept_keycloak_docker_tokens is on: the policy does not apply to tokens Keycloak's docker-v2 protocol signs, and any user of the realm can get any scope there; turn it off when the migration is done",
			"realm", kc.Realm, "keycloak_service", kc.Service)
	}
	ownTokens, err := tokenauth.NewVerifier(tokenauth.VerifierOptions{Keys: signer, Issuers: []string{issuerURL}})
	if err != nil {
		return nil, err
	}
	m.wrapRegistry = func(reg *registry.Registry, next http.Handler) http.Handler {
		return catalog.New(catalog.Options{Lister: reg, Verifier: ownTokens, Service: o.Service, Policy: m.policy,
			MaxEntries: reg.CatalogMaxEntries(), Logger: log}, next)
	}
	log.Info("oidc mode", "keycloak_url", kc.URL, "realm", kc.Realm, "client_id", o.ClientID, "service", o.Service,
		"token_endpoint", publicURL+o.TokenPath, "signing_key", signer.Active().KeyID())
	return m, nil
}

// loadSigningKeys reads oidc.signing_key (or generates the key in
// data_dir on first start) and oidc.previous_signing_keys.
func loadSigningKeys(cfg *config.Config) (*signing.Set, error) {
	var active *signing.Key
	var err error
	if cfg.OIDC.SigningKey != "" {
		active, err = signing.Load(cfg.OIDC.SigningKey)
	} else {
		active, err = signing.LoadOrGenerate(cfg.SigningKeyFile())
	}
	if err != nil {
		return nil, &config.Error{Key: "oidc.signing_key", Msg: err.Error()}
	}
	var previous []*signing.Key
	for i, path := range cfg.OIDC.PreviousSigningKeys {
		k, err := signing.Load(path)
		if err != nil {
			return nil, &config.Error{Key: fmt.Sprintf("oidc.previous_signing_keys[%d]", i), Msg: err.Error()}
		}
		previous = append(previous, k)
	}
	set, err := signing.NewSet(active, previous...)
	if err != nil {
		return nil, &config.Error{Key: "oidc.previous_signing_keys", Msg: err.Error()}
	}
	return set, nil
}

// cacheTTL maps oidc.cache_ttl (0 = off) onto identity's convention
// (negative = off, 0 = default).
func cacheTTL(d config.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d.D()
}

// eitherKeys looks a key id up in each source in turn.
type eitherKeys []tokenauth.KeySource

func (e eitherKeys) Key(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	for _, src := range e {
		if k, ok := src.Key(ctx, kid); ok {
			return k, true
		}
	}
	return nil, false
}
