package keycloak

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/registry-stack/registry-stack/internal/stacktest"
)

// keycloakEnv returns the Keycloak to run integration tests against
// (skipped without one, failed under CI=true).
func keycloakEnv(t *testing.T) (baseURL, adminUser, adminPassword string) {
	t.Helper()
	kc := stacktest.RequireKeycloak(t)
	return kc.URL, kc.AdminUser, kc.AdminPassword
}

// keycloakAdmin drives the admin REST API to set up a scratch realm.
type keycloakAdmin struct {
	t              *testing.T
	base           string
	user, password string
	client         *http.Client
}

func (a *keycloakAdmin) waitReady(ctx context.Context) {
	a.t.Helper()
	u := strings.TrimRight(a.base, "/") + "/realms/master/.well-known/openid-configuration"
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			a.t.Fatal(err)
		}
		resp, err := a.client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			a.t.Fatalf("Keycloak at %s not ready: %v", a.base, lastErr)
		case <-time.After(2 * time.Second):
		}
	}
}

func (a *keycloakAdmin) token(ctx context.Context) string {
	a.t.Helper()
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {"admin-cli"},
		"username":   {a.user},
		"password":   {a.password},
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	a.do(ctx, "", http.MethodPost, "/realms/master/protocol/openid-connect/token",
		"application/x-www-form-urlencoded", strings.NewReader(form.Encode()), &out)
	return out.AccessToken
}

// do sends one request and fails the test on any non-2xx answer.
func (a *keycloakAdmin) do(ctx context.Context, bearer, method, path, contentType string, body io.Reader, out any) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.base, "/")+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
}

func (a *keycloakAdmin) postJSON(ctx context.Context, bearer, path string, v any) {
	a.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	a.do(ctx, bearer, http.MethodPost, path, "application/json", bytes.NewReader(b), nil)
}

// createDockerRealm creates a throw-away realm with a docker-v2 client that
// grants everything and one user, and deletes it when the test ends.
func (a *keycloakAdmin) createDockerRealm(ctx context.Context, realm, service, user, password string) {
	a.t.Helper()
	tok := a.token(ctx)
	a.postJSON(ctx, tok, "/admin/realms", map[string]any{"realm": realm, "enabled": true})
	a.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.do(ctx, a.token(ctx), http.MethodDelete, "/admin/realms/"+url.PathEscape(realm), "", nil, nil)
	})
	a.postJSON(ctx, tok, "/admin/realms/"+url.PathEscape(realm)+"/clients", map[string]any{
		"clientId":     service,
		"protocol":     "docker-v2",
		"enabled":      true,
		"publicClient": true,
		"protocolMappers": []map[string]any{{
			"name": "allow all", "protocol": "docker-v2", "protocolMapper": "docker-v2-allow-all-mapper",
		}},
	})
	a.postJSON(ctx, tok, "/admin/realms/"+url.PathEscape(realm)+"/users", map[string]any{
		"username": user, "enabled": true, "emailVerified": true,
		"firstName": "Test", "lastName": "User", "email": user + "@example.test",
		"credentials": []map[string]any{{"type": "password", "value": password, "temporary": false}},
	})
}

func dockerToken(ctx context.Context, t *testing.T, client *http.Client, r Realm, service, scope, user, password string) string {
	t.Helper()
	u := r.DockerAuthURL() + "?" + url.Values{"service": {service}, "scope": {scope}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("GET %s: %s: %s", r.DockerAuthURL(), resp.Status, b)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Token == "" {
		t.Fatal("docker-v2 endpoint returned no token")
	}
	return out.Token
}

// TestKeycloakDockerTokens checks, against a real Keycloak, the facts the
// token verification relies on: the header kid is the libtrust kid of a key
// from the realm's JWKS, there is no x5c, and iss/aud/sub/access have the
// shape distribution expects.
func TestKeycloakDockerTokens(t *testing.T) {
	base, adminUser, adminPassword := keycloakEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	admin := &keycloakAdmin{t: t, base: base, user: adminUser, password: adminPassword, client: client}
	admin.waitReady(ctx)

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	realmName := "registry-stack-test-" + hex.EncodeToString(suffix)
	const service, user, password = "registry", "alice", "alice-password"
	admin.createDockerRealm(ctx, realmName, service, user, password)

	realm, err := ParseRealm(base, realmName)
	if err != nil {
		t.Fatal(err)
	}
	raw := dockerToken(ctx, t, client, realm, service, "repository:foo/bar:pull,push", user, password)

	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512})
	if err != nil {
		t.Fatalf("parsing Keycloak token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("token has %d signatures, want 1", len(tok.Headers))
	}
	hdr := tok.Headers[0]
	t.Logf("token header: alg=%s kid=%s", hdr.Algorithm, hdr.KeyID)
	if !libtrustIDPattern.MatchString(hdr.KeyID) {
		t.Errorf("header kid %q is not libtrust-shaped", hdr.KeyID)
	}
	if _, err := hdr.Certificates(x509.VerifyOptions{}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		t.Errorf("token header carries x5c (err=%v); verification assumes it does not", err)
	}

	ks := NewKeySet(KeySetOptions{Client: client, Realm: realm})
	if err := ks.Refresh(ctx); err != nil {
		t.Fatalf("loading JWKS: %v", err)
	}
	key, ok := ks.Key(ctx, hdr.KeyID)
	if !ok {
		t.Fatalf("no JWKS key has libtrust kid %q", hdr.KeyID)
	}
	if lt, err := LibtrustKeyID(key); err != nil || lt != hdr.KeyID {
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
	issuer, err := DiscoverIssuer(ctx, client, realm)
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
