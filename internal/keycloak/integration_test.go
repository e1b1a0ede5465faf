package keycloak_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
)

// libtrustKid is the shape of a libtrust key id: twelve groups of four
// base32 characters.
var libtrustKid = regexp.MustCompile(`^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$`)

// TestKeycloakDockerTokens checks, against a real Keycloak, the facts the
// token verification relies on: the header kid is the libtrust kid of a key
// from the realm's JWKS, there is no x5c, and iss/aud/sub/access have the
// shape distribution expects.
func TestKeycloakDockerTokens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	fixture := keycloaktest.NewRealm(t, keycloaktest.Require(t), "registry-stack-test")
	realm := fixture.Endpoints(t)
	service, user := fixture.Service, fixture.User
	raw := fixture.Token(t, "repository:foo/bar:pull,push")

	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512})
	if err != nil {
		t.Fatalf("parsing Keycloak token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("token has %d signatures, want 1", len(tok.Headers))
	}
	hdr := tok.Headers[0]
	t.Logf("token header: alg=%s kid=%s", hdr.Algorithm, hdr.KeyID)
	if !libtrustKid.MatchString(hdr.KeyID) {
		t.Errorf("header kid %q is not libtrust-shaped", hdr.KeyID)
	}
	if _, err := hdr.Certificates(x509.VerifyOptions{}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		t.Errorf("token header carries x5c (err=%v); verification assumes it does not", err)
	}

	ks := keycloak.NewKeySet(keycloak.KeySetOptions{Client: client, Realm: realm})
	if err := ks.Refresh(ctx); err != nil {
		t.Fatalf("loading JWKS: %v", err)
	}
	key, ok := ks.Key(ctx, hdr.KeyID)
	if !ok {
		t.Fatalf("no JWKS key has libtrust kid %q", hdr.KeyID)
	}
	if lt, err := keycloak.LibtrustKeyID(key); err != nil || lt != hdr.KeyID {
		t.Errorf("LibtrustKeyID(JWKS key) = %q, %v; want header kid %q", lt, err, hdr.KeyID)
	}

	var claims struct {
		jwt.Claims
		Access []struct {
			Type    string   `json:"type"`
			Name    string   `json:"name"`
			Actions []string `json:"actions"`
		} `json:"access"`
	}
	if err := tok.Claims(key, &claims); err != nil {
		t.Fatalf("signature does not verify with the JWKS key: %v", err)
	}
	issuer, err := keycloak.DiscoverIssuer(ctx, client, realm)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != issuer || claims.Issuer != realm.IssuerURL() {
		t.Errorf("iss = %q, want discovered %q = %q", claims.Issuer, issuer, realm.IssuerURL())
	}
	if !slices.Equal([]string(claims.Audience), []string{service}) {
		t.Errorf("aud = %v, want [%s]", claims.Audience, service)
	}
	if claims.Subject != user {
		t.Errorf("sub = %q, want %q", claims.Subject, user)
	}
	if claims.Expiry == nil || claims.NotBefore == nil {
		t.Errorf("exp/nbf missing: exp=%v nbf=%v", claims.Expiry, claims.NotBefore)
	}
	if len(claims.Access) != 1 || claims.Access[0].Type != "repository" || claims.Access[0].Name != "foo/bar" ||
		!slices.Equal(slices.Sorted(slices.Values(claims.Access[0].Actions)), []string{"pull", "push"}) {
		t.Errorf("access = %+v, want repository foo/bar [pull push]", claims.Access)
	}
}
