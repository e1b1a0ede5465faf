package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Realm is a scratch Keycloak realm with a docker-v2 client and one user,
// created through Keycloak's admin REST API for one test and deleted after.
type Realm struct {
	Keycloak Keycloak
	Name     string
	Service  string
	User     string
	Password string
}

// NewRealm creates a realm named prefix-<unique> with a docker-v2 client
// (allow-all mapper, so tokens carry the access claim) and a user.
func NewRealm(t testing.TB, kc Keycloak, prefix string) Realm {
	t.Helper()
	return newRealm(t, kc, prefix, true)
}

// NewRealmWithoutClient creates the realm and user only, for a Keycloak
// whose docker-v2 protocol is disabled (it refuses such clients).
func NewRealmWithoutClient(t testing.TB, kc Keycloak, prefix string) Realm {
	t.Helper()
	return newRealm(t, kc, prefix, false)
}

func newRealm(t testing.TB, kc Keycloak, prefix string, withClient bool) Realm {
	t.Helper()
	r := Realm{
		Keycloak: kc,
		Name:     fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9),
		Service:  "registry",
		User:     "alice",
		Password: "alice-Pa55-" + fmt.Sprint(time.Now().UnixNano()%1e6),
	}
	r.Admin(t, http.MethodPost, "/admin/realms", map[string]any{"realm": r.Name, "enabled": true}, http.StatusCreated)
	t.Cleanup(func() { r.Admin(t, http.MethodDelete, "/admin/realms/"+r.Name, nil, http.StatusNoContent) })
	if withClient {
		r.Admin(t, http.MethodPost, "/admin/realms/"+r.Name+"/clients", map[string]any{
			"clientId": r.Service, "protocol": "docker-v2", "enabled": true,
			"protocolMappers": []map[string]any{{"name": "allow all", "protocol": "docker-v2", "protocolMapper": "docker-v2-allow-all-mapper"}},
		}, http.StatusCreated)
	}
	r.Admin(t, http.MethodPost, "/admin/realms/"+r.Name+"/users", map[string]any{
		"username": r.User, "enabled": true, "email": r.User + "@example.com", "firstName": "Alice", "lastName": "Example", "emailVerified": true,
		"credentials": []map[string]any{{"type": "password", "value": r.Password, "temporary": false}},
	}, http.StatusCreated)
	return r
}

// StackArgs returns the serve flags for keycloak mode against this realm.
func (r Realm) StackArgs() []string {
	return []string{"--auth", "keycloak", "--keycloak-url", r.Keycloak.URL, "--keycloak-realm", r.Name, "--keycloak-service", r.Service}
}

// TokenPath is the stack's default token path for this realm.
func (r Realm) TokenPath() string { return "/auth/realms/" + r.Name + "/protocol/docker-v2/auth" }

// KeycloakTokenURL is Keycloak's own docker-v2 endpoint for this realm.
func (r Realm) KeycloakTokenURL() string {
	return r.Keycloak.URL + "/realms/" + r.Name + "/protocol/docker-v2/auth"
}

// AddRSAKey adds a new active RSA key provider with a higher priority, so
// Keycloak signs new tokens with a key the stack has not seen yet.
func (r Realm) AddRSAKey(t testing.TB, priority int) {
	t.Helper()
	realm := r.Admin(t, http.MethodGet, "/admin/realms/"+r.Name, nil, http.StatusOK)
	var rep struct{ ID string }
	if err := json.Unmarshal(realm, &rep); err != nil {
		t.Fatal(err)
	}
	r.Admin(t, http.MethodPost, "/admin/realms/"+r.Name+"/components", map[string]any{
		"name": fmt.Sprintf("rotated-%d", priority), "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
		"parentId": rep.ID, "config": map[string][]string{"priority": {fmt.Sprint(priority)}, "keySize": {"2048"}, "active": {"true"}, "enabled": {"true"}, "algorithm": {"RS256"}},
	}, http.StatusCreated)
}

// Admin calls the admin REST API with a fresh admin token and fails the
// test unless the status is want. It returns the response body.
func (r Realm) Admin(t testing.TB, method, path string, body any, want int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := adminToken(ctx, r.Keycloak)
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, r.Keycloak.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("keycloak admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("keycloak admin %s %s = %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	return out
}

func adminToken(ctx context.Context, kc Keycloak) (string, error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {kc.AdminUser}, "password": {kc.AdminPassword}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, kc.URL+"/realms/master/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("keycloak admin login at %s: %w", kc.URL, err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("keycloak admin login at %s: status %d", kc.URL, resp.StatusCode)
	}
	return tok.AccessToken, nil
}

// ImportRSAKey adds key to the realm as an extra, low-priority signing key.
// Keycloak publishes it in the realm's JWKS, so a token the test signs with
// it is signed by a key the realm really trusts: the way to make tokens with
// arbitrary claims (expired, wrong audience, ...) that only the claim checks
// can refuse.
func (r Realm) ImportRSAKey(t testing.TB, privatePEM string) {
	t.Helper()
	realm := r.Admin(t, http.MethodGet, "/admin/realms/"+r.Name, nil, http.StatusOK)
	var rep struct{ ID string }
	if err := json.Unmarshal(realm, &rep); err != nil {
		t.Fatal(err)
	}
	r.Admin(t, http.MethodPost, "/admin/realms/"+r.Name+"/components", map[string]any{
		"name": "imported-test-key", "providerId": "rsa", "providerType": "org.keycloak.keys.KeyProvider",
		"parentId": rep.ID, "config": map[string][]string{"priority": {"1"}, "privateKey": {privatePEM}, "active": {"true"}, "enabled": {"true"}, "algorithm": {"RS256"}},
	}, http.StatusCreated)
}

// Token asks Keycloak's docker-v2 endpoint directly for a token.
func (r Realm) Token(t testing.TB, user, password, scope string) string {
	t.Helper()
	return FetchToken(t, r.KeycloakTokenURL(), r.Service, user, password, scope)
}

// FetchToken gets a docker token from tokenURL with Basic credentials.
func FetchToken(t testing.TB, tokenURL, service, user, password, scope string) string {
	t.Helper()
	q := url.Values{"service": {service}}
	if scope != "" {
		q.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodGet, tokenURL+"?"+q.Encode(), nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token from %s: %v", tokenURL, err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		t.Fatalf("token from %s: status %d (%v)", tokenURL, resp.StatusCode, err)
	}
	return body.Token
}
