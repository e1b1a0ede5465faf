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
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/registry-stack/registry-stack/internal/httpurl"
	"github.com/registry-stack/registry-stack/internal/shorten"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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

var asymmetricAlgorithms = []string{
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
}

// controller implements auth.AccessController.
type controller struct {
	tokenURL   string
	service    string
	issuers    []string
	issuerSrc  IssuerSource
	audiences  []string
	keys       KeySource
	algorithms []jose.SignatureAlgorithm
	now        func() time.Time
}

// New validates o and returns the access controller.
func New(o Options) (auth.AccessController, error) {
	if _, err := httpurl.ParseBase(o.TokenURL); err != nil {
		return nil, fmt.Errorf("tokenauth: token URL: %w", err)
	}
	if o.Service == "" {
		return nil, errors.New("tokenauth: service must be set")
	}
	if (len(o.Issuers) == 0 && o.IssuerSource == nil) || slices.Contains(o.Issuers, "") {
		return nil, fmt.Errorf("tokenauth: issuers %q: need at least one, none empty", o.Issuers)
	}
	if o.Keys == nil {
		return nil, errors.New("tokenauth: key source must be set")
	}
	audiences := o.Audiences
	if len(audiences) == 0 {
		audiences = []string{o.Service}
	}
	if slices.Contains(audiences, "") {
		return nil, fmt.Errorf("tokenauth: audiences %q: must not be empty strings", audiences)
	}
	names := o.Algorithms
	if len(names) == 0 {
		names = asymmetricAlgorithms
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		if !slices.Contains(asymmetricAlgorithms, n) {
			return nil, fmt.Errorf("tokenauth: algorithm %q: want one of %s", n, strings.Join(asymmetricAlgorithms, ", "))
		}
		algs = append(algs, jose.SignatureAlgorithm(n))
	}
	return &controller{
		tokenURL:   o.TokenURL,
		service:    o.Service,
		issuers:    slices.Clone(o.Issuers),
		issuerSrc:  o.IssuerSource,
		audiences:  slices.Clone(audiences),
		keys:       o.Keys,
		algorithms: algs,
		now:        time.Now,
	}, nil
}

func (c *controller) trustedIssuer(iss string) bool {
	if iss == "" {
		return false
	}
	if slices.Contains(c.issuers, iss) {
		return true
	}
	return c.issuerSrc != nil && slices.Contains(c.issuerSrc.Issuers(), iss)
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

// verify checks signature, issuer, audience and validity period. Errors wrap
// token.ErrMalformedToken or token.ErrInvalidToken and never quote the token.
func (c *controller) verify(ctx context.Context, raw string) (*token.ClaimSet, error) {
	tok, err := jwt.ParseSigned(raw, c.algorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", token.ErrMalformedToken, err)
	}
	// The compact serialization docker uses carries exactly one signature.
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: %d signatures", token.ErrInvalidToken, len(tok.Headers))
	}
	// Only the kid is used: keys or certificates embedded in the header are
	// attacker-supplied and never trusted.
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, fmt.Errorf("%w: no key id in header", token.ErrInvalidToken)
	}
	key, ok := c.keys.Key(ctx, kid)
	if !ok {
		return nil, fmt.Errorf("%w: signed by untrusted key with ID %q", token.ErrInvalidToken, shorten.Text(kid, 64))
	}
	var claims token.ClaimSet
	// Claims verifies the signature, including that the algorithm fits
	// the key type.
	if err := tok.Claims(key, &claims); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify with key %q: %v", token.ErrInvalidToken, shorten.Text(kid, 64), err)
	}
	if !c.trustedIssuer(claims.Issuer) {
		return nil, fmt.Errorf("%w: untrusted issuer %q", token.ErrInvalidToken, claims.Issuer)
	}
	if !slices.ContainsFunc(c.audiences, func(a string) bool { return slices.Contains(claims.Audience, a) }) {
		return nil, fmt.Errorf("%w: intended for audience %q", token.ErrInvalidToken, []string(claims.Audience))
	}
	// As distribution does: a missing exp reads as 0 and so has expired, a
	// missing nbf as 0 and so imposes nothing.
	now := c.now()
	if exp := time.Unix(claims.Expiration, 0).Add(token.Leeway); now.After(exp) {
		return nil, fmt.Errorf("%w: expired at %s", token.ErrInvalidToken, time.Unix(claims.Expiration, 0).UTC().Format(time.RFC3339))
	}
	if nbf := time.Unix(claims.NotBefore, 0).Add(-token.Leeway); now.Before(nbf) {
		return nil, fmt.Errorf("%w: not valid before %s", token.ErrInvalidToken, time.Unix(claims.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return &claims, nil
}
