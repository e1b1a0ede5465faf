package signing

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-jose/go-jose/v4"
)

// Set is the active signing key plus previous keys. New tokens are always
// signed by the active key; a previous key only verifies, so tokens it
// signed before a rotation stay valid until they expire. A Set is immutable
// and safe for concurrent use: rotating means building a new one.
type Set struct {
	active *Key
	signer jose.Signer
	// keys holds every key's public key by key ID, the active one included.
	keys map[string]crypto.PublicKey
	// jwks is the encoded key set, computed once: it never changes and is
	// served on every verifier's refresh.
	jwks []byte
}

// NewSet returns the set that signs with active and verifies with active and
// previous. Two keys with the same key ID are an error: the same key
// configured twice is most likely a rotation gone wrong.
func NewSet(active *Key, previous ...*Key) (*Set, error) {
	if active == nil {
		return nil, errors.New("signing key set: no active key")
	}
	all := append([]*Key{active}, previous...)
	s := &Set{active: active, keys: make(map[string]crypto.PublicKey, len(all))}
	doc := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(all))}
	for i, k := range all {
		if k == nil {
			return nil, fmt.Errorf("signing key set: previous key %d of %d is nil", i, len(previous))
		}
		if _, dup := s.keys[k.kid]; dup {
			return nil, fmt.Errorf("signing key set: key %s is configured twice; the active key must not be among the previous ones, nor a previous key repeated", k.kid)
		}
		pub := k.Public()
		s.keys[k.kid] = pub
		// Only the public key goes in: the private one never reaches the
		// encoder.
		doc.Keys = append(doc.Keys, jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	jwks, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("signing key set: encoding JWKS: %w", err)
	}
	s.jwks = jwks
	// With the key wrapped in a JSONWebKey, go-jose puts its kid into
	// every header.
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: active.alg, Key: jose.JSONWebKey{Key: active.priv, KeyID: active.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("signing key set: signer for %s: %w", active.kid, err)
	}
	s.signer = signer
	return s, nil
}

// Active is the key new tokens are signed with.
func (s *Set) Active() *Key { return s.active }

// Key returns the public key with key ID kid, active or previous. It
// implements tokenauth.KeySource.
func (s *Set) Key(_ context.Context, kid string) (crypto.PublicKey, bool) {
	k, ok := s.keys[kid]
	return k, ok
}

// Sign returns claims, encoded as JSON, as a compact JWS signed by the
// active key, with the header fields alg, kid and typ "JWT". The claims
// must encode as a JSON object.
func (s *Set) Sign(claims any) (string, error) {
	// Encoded here rather than by go-jose's jwt builder, which encodes,
	// decodes into a map and encodes again, with twice the allocations.
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signing token: encoding claims: %w", err)
	}
	if payload[0] != '{' {
		return "", fmt.Errorf("signing token: claims of type %T do not encode as a JSON object", claims)
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing token with key %s: %w", s.active.kid, err)
	}
	return jws.CompactSerialize()
}

// JWKS returns the public keys as a JSON Web Key Set, the active key first.
func (s *Set) JWKS() ([]byte, error) {
	return append([]byte(nil), s.jwks...), nil
}

// JWKSHandler serves the JWKS to GET and HEAD. Verifiers may cache it for
// five minutes: short enough that one which does not refetch on an unknown
// kid soon learns a newly activated key, long enough to spare the server
// a fetch per token.
func (s *Set) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(s.jwks)
	})
}
