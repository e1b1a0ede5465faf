package tokenauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/registry-stack/registry-stack/internal/shorten"
)

var asymmetricAlgorithms = []string{
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
}

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	Keys KeySource
	// Issuers are the accepted "iss" values; IssuerSource, when set, adds
	// the ones it currently knows.
	Issuers      []string
	IssuerSource IssuerSource
	// Algorithms are the accepted signature algorithms; empty means all
	// RSA, RSA-PSS and ECDSA ones. Symmetric algorithms and "none" are
	// never accepted: a verification key that is public must not also be
	// a valid HMAC secret.
	Algorithms []string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks what every signed token registry-stack accepts must
// satisfy, whoever issued it (Keycloak or the stack itself): a single
// signature by the key its kid names, with an allowed asymmetric algorithm,
// a trusted issuer, and exp/nbf with distribution's leeway. Audience and
// the other claims are each caller's to check.
type Verifier struct {
	keys       KeySource
	issuers    []string
	issuerSrc  IssuerSource
	algorithms []jose.SignatureAlgorithm
	now        func() time.Time
}

// NewVerifier validates o.
func NewVerifier(o VerifierOptions) (*Verifier, error) {
	if (len(o.Issuers) == 0 && o.IssuerSource == nil) || slices.Contains(o.Issuers, "") {
		return nil, fmt.Errorf("tokenauth: issuers %q: need at least one, none empty", o.Issuers)
	}
	if o.Keys == nil {
		return nil, errors.New("tokenauth: key source must be set")
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
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: o.Keys, issuers: slices.Clone(o.Issuers), issuerSrc: o.IssuerSource, algorithms: algs, now: now}, nil
}

// timeClaims are the claims Verify checks itself.
type timeClaims struct {
	Issuer     string `json:"iss"`
	Expiration int64  `json:"exp"`
	NotBefore  int64  `json:"nbf"`
}

// Verify checks raw and decodes its claims into each of out. Errors wrap
// token.ErrMalformedToken or token.ErrInvalidToken and never quote the
// token.
func (v *Verifier) Verify(ctx context.Context, raw string, out ...any) error {
	tok, err := jwt.ParseSigned(raw, v.algorithms)
	if err != nil {
		return fmt.Errorf("%w: %v", token.ErrMalformedToken, err)
	}
	// The compact serialization carries exactly one signature.
	if len(tok.Headers) != 1 {
		return fmt.Errorf("%w: %d signatures", token.ErrInvalidToken, len(tok.Headers))
	}
	// Only the kid is used: keys or certificates embedded in the header are
	// attacker-supplied and never trusted.
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return fmt.Errorf("%w: no key id in header", token.ErrInvalidToken)
	}
	key, ok := v.keys.Key(ctx, kid)
	if !ok {
		return fmt.Errorf("%w: signed by untrusted key with ID %q", token.ErrInvalidToken, shorten.Text(kid, 64))
	}
	var tc timeClaims
	// Claims verifies the signature, including that the algorithm fits
	// the key type.
	if err := tok.Claims(key, append([]any{&tc}, out...)...); err != nil {
		return fmt.Errorf("%w: signature does not verify with key %q: %v", token.ErrInvalidToken, shorten.Text(kid, 64), err)
	}
	if !v.trustedIssuer(tc.Issuer) {
		return fmt.Errorf("%w: untrusted issuer %q", token.ErrInvalidToken, shorten.Text(tc.Issuer, 200))
	}
	// As distribution does: a missing exp reads as 0 and so has expired, a
	// missing nbf as 0 and so imposes nothing.
	now := v.now()
	if exp := time.Unix(tc.Expiration, 0).Add(token.Leeway); now.After(exp) {
		return fmt.Errorf("%w: expired at %s", token.ErrInvalidToken, time.Unix(tc.Expiration, 0).UTC().Format(time.RFC3339))
	}
	if nbf := time.Unix(tc.NotBefore, 0).Add(-token.Leeway); now.Before(nbf) {
		return fmt.Errorf("%w: not valid before %s", token.ErrInvalidToken, time.Unix(tc.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func (v *Verifier) trustedIssuer(iss string) bool {
	if iss == "" {
		return false
	}
	if slices.Contains(v.issuers, iss) {
		return true
	}
	return v.issuerSrc != nil && slices.Contains(v.issuerSrc.Issuers(), iss)
}
