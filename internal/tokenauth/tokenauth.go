// Package tokenauth is a distribution access controller for docker-v2 bearer
// tokens issued by Keycloak.
//
// distribution's own "token" controller cannot verify them: it looks signing
// keys up by RFC 7638 thumbprint, while Keycloak names its key with a libtrust
// key ID, and it only reads keys from files at start-up, so it misses key
// rotation. This controller asks a live KeySource for the header's kid and
// otherwise follows the "token" controller's semantics: the same leeway on
// exp/nbf, issuer and audience checks, access matching and challenges.
package tokenauth

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"slices"
	"strings"

	authchallenge "github.com/registry-stack/registry-stack/internal/challenge"
	"github.com/registry-stack/registry-stack/internal/httpurl"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
)

// Name is the access controller name registered with distribution's auth
// package.
const Name = "registry-stack-token"

// OptionsKey is the key of the access controller parameters that holds the
// Options value.
const OptionsKey = "options"

// init registers the controller so a distribution configuration can select it
// with auth: {registry-stack-token: {options: tokenauth.Options{...}}}. The
// Options value, and with it the live KeySource, travels inside that
// configuration rather than through any package-level state; this only works
// for configurations built in Go, not parsed from YAML.
func init() {
	if err := auth.Register(Name, auth.InitFunc(newFromParams)); err != nil {
		panic(fmt.Sprintf("registering access controller %s: %v", Name, err))
	}
}

// KeySource returns the public key a token names in its "kid" header.
type KeySource interface {
	Key(ctx context.Context, kid string) (crypto.PublicKey, bool)
}

// IssuerSource returns the currently accepted issuers.
type IssuerSource interface {
	Issuers() []string
}

// Options configures the access controller.
type Options struct {
	// TokenURL is the token endpoint, announced as the realm of the
	// registry's Bearer challenges.
	TokenURL string
	Service  string
	// Issuers are the accepted "iss" values.
	Issuers []string
	// IssuerSource, when set, adds the issuers it currently knows (e.g.
	// one discovered from Keycloak after start-up) to Issuers.
	IssuerSource IssuerSource
	// Audiences are the accepted "aud" values; empty means [Service].
	Audiences []string
	Keys      KeySource
	// Algorithms are the accepted signature algorithms; empty means all
	// RSA, RSA-PSS and ECDSA ones. Symmetric algorithms and "none" are
	// never accepted: a verification key that is public must not also be
	// a valid HMAC secret.
	Algorithms []string
}

// controller implements auth.AccessController.
type controller struct {
	tokenURL  string
	service   string
	audiences []string
	verifier  *Verifier
	cache     verified
}

// New validates o and returns the access controller.
func New(o Options) (auth.AccessController, error) {
	if _, err := httpurl.ParseBase(o.TokenURL); err != nil {
		return nil, fmt.Errorf("tokenauth: token URL: %w", err)
	}
	if o.Service == "" || authchallenge.HasControl(o.Service) {
		return nil, fmt.Errorf("tokenauth: service %q: must be set, without control characters", o.Service)
	}
	audiences := o.Audiences
	if len(audiences) == 0 {
		audiences = []string{o.Service}
	}
	if slices.Contains(audiences, "") {
		return nil, fmt.Errorf("tokenauth: audiences %q: must not be empty strings", audiences)
	}
	v, err := NewVerifier(VerifierOptions{Keys: o.Keys, Issuers: o.Issuers, IssuerSource: o.IssuerSource, Algorithms: o.Algorithms})
	if err != nil {
		return nil, err
	}
	return &controller{
		tokenURL:  o.TokenURL,
		service:   o.Service,
		audiences: slices.Clone(audiences),
		verifier:  v,
	}, nil
}

// newFromParams is the auth.InitFunc: it takes the Options value from the
// access controller parameters.
func newFromParams(params map[string]any) (auth.AccessController, error) {
	switch o := params[OptionsKey].(type) {
	case Options:
		return New(o)
	case *Options:
		if o != nil {
			return New(*o)
		}
	}
	return nil, fmt.Errorf("access controller %s: parameter %q must hold a tokenauth.Options, got %T",
		Name, OptionsKey, params[OptionsKey])
}

// Authorized implements auth.AccessController.
func (c *controller) Authorized(req *http.Request, access ...auth.Access) (*auth.Grant, error) {
	ch := &challenge{realm: c.tokenURL, service: c.service, required: access}

	prefix, raw, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || raw == "" || !strings.EqualFold(prefix, "bearer") {
		ch.err = token.ErrTokenRequired
		return nil, ch
	}

	claims, err := c.verify(req.Context(), raw)
	if err != nil {
		ch.err = err
		return nil, ch
	}

	granted := newAccessSet(claims.Access)
	for _, a := range access {
		if !granted.contains(a) {
			ch.err = fmt.Errorf("%w: token of %q lacks %s:%s:%s", token.ErrInsufficientScope,
				claims.Subject, a.Type, a.Name, a.Action)
			return nil, ch
		}
	}
	return &auth.Grant{
		User:      auth.UserInfo{Name: claims.Subject},
		Resources: resources(claims.Access),
	}, nil
}

// verify checks a registry token: signature, issuer, validity period (by
// the shared Verifier) and audience.
func (c *controller) verify(ctx context.Context, raw string) (*token.ClaimSet, error) {
	now := c.verifier.now()
	if claims, ok := c.cache.get(raw, now); ok {
		return claims, nil
	}
	var claims token.ClaimSet
	if err := c.verifier.Verify(ctx, raw, &claims); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(c.audiences, func(a string) bool { return slices.Contains(claims.Audience, a) }) {
		return nil, fmt.Errorf("%w: intended for audience %q", token.ErrInvalidToken, []string(claims.Audience))
	}
	c.cache.put(raw, &claims, now)
	return &claims, nil
}
