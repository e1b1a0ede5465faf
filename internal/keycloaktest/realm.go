package keycloaktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/Nerzal/gocloak/v13"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloak"
)

// Realm is a scratch realm with a docker-v2 client (Service) and one user,
// set up for one test and deleted after it.
type Realm struct {
	Server   Server
	Name     string
	Service  string
	User     string
	Password string
}

// unique is a random suffix that keeps names of parallel tests and
// repeated runs apart.
func unique(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TempRealm returns a realm name unique to this test (prefix-<random>) and
// deletes the realm of that name when the test ends. It creates nothing:
// the test (or the code it tests) does.
func (s Server) TempRealm(t testing.TB, prefix string) string {
	t.Helper()
	name := prefix + "-" + unique(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		a, err := bootstrap.Login(ctx, s.Connection(), nil)
		if err == nil {
			err = a.DeleteRealm(ctx, name)
		}
		var apiErr *gocloak.APIError
		if errors.As(err, &apiErr) && apiErr.Code == http.StatusNotFound {
			return // never created
		}
		if err != nil {
			t.Errorf("remove scratch realm: %v", err)
		}
	})
	return name
}

// NewRealm creates a realm named prefix-<random> with a docker-v2 client
// "registry" (with the allow-all mapper, so tokens carry the access claim)
// and a user "alice", the way `registry-stack bootstrap` does.
func NewRealm(t testing.TB, s Server, prefix string) Realm {
	t.Helper()
	return newRealm(t, s, prefix, true)
}

// NewRealmWithoutClient creates the realm and user only, for a Keycloak
// whose docker-v2 protocol is disabled (it refuses such clients).
func NewRealmWithoutClient(t testing.TB, s Server, prefix string) Realm {
	t.Helper()
	return newRealm(t, s, prefix, false)
}

func newRealm(t testing.TB, s Server, prefix string, withClient bool) Realm {
	t.Helper()
	r := Realm{
		Server:   s,
		Name:     s.TempRealm(t, prefix),
		Service:  "registry",
		User:     "alice",
		Password: "alice-Pa55-" + unique(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	a := s.Admin(t)
	if _, err := a.EnsureRealm(ctx, r.Name); err != nil {
		t.Fatal(err)
	}
	if withClient {
		if _, _, err := a.EnsureDockerClient(ctx, r.Name, r.Service); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.EnsureUser(ctx, r.Name, r.User, r.Password); err != nil {
		t.Fatal(err)
	}
	return r
}

// AddUserWithTemporaryPassword adds a user whose password must be changed
// before Keycloak issues it a token (required action UPDATE_PASSWORD).
func (r Realm) AddUserWithTemporaryPassword(t testing.TB, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	a := r.Server.Admin(t)
	if _, err := a.EnsureUser(ctx, r.Name, user, password); err != nil {
		t.Fatal(err)
	}
	kc, tok, err := a.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, err := kc.GetUsers(ctx, tok, r.Name, gocloak.GetUsersParams{Username: gocloak.StringP(user), Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("look up user %q in realm %q: %v (%d found)", user, r.Name, err, len(users))
	}
	if err := kc.SetPassword(ctx, tok, *users[0].ID, r.Name, password, true); err != nil {
		t.Fatalf("set a temporary password for %q in realm %q: %v", user, r.Name, err)
	}
}

// AddRSAKey adds a new active, generated RSA key with the given priority;
// above the realm's own (100), Keycloak signs new tokens with a key the
// stack has not seen yet.
func (r Realm) AddRSAKey(t testing.TB, priority int) {
	t.Helper()
	r.addKeyProvider(t, fmt.Sprintf("rotated-%d", priority), "rsa-generated", map[string][]string{
		"priority": {fmt.Sprint(priority)}, "keySize": {"2048"},
	})
}

// ImportRSAKey adds privatePEM to the realm as an extra, low-priority
// signing key. Keycloak publishes it in the realm's JWKS, so a token the
// test signs with it is signed by a key the realm really trusts: the way to
// make tokens with arbitrary claims (expired, wrong audience, ...) that only
// the claim checks can refuse.
func (r Realm) ImportRSAKey(t testing.TB, privatePEM string) {
	t.Helper()
	r.addKeyProvider(t, "imported-test-key", "rsa", map[string][]string{
		"priority": {"1"}, "privateKey": {privatePEM},
	})
}

// addKeyProvider adds an active, enabled RS256 key provider component.
func (r Realm) addKeyProvider(t testing.TB, name, providerID string, config map[string][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	kc, tok, err := r.Server.Admin(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	realm, err := kc.GetRealm(ctx, tok, r.Name)
	if err != nil {
		t.Fatalf("look up realm %q: %v", r.Name, err)
	}
	config["active"], config["enabled"], config["algorithm"] = []string{"true"}, []string{"true"}, []string{"RS256"}
	if _, err := kc.CreateComponent(ctx, tok, r.Name, gocloak.Component{
		Name:            gocloak.StringP(name),
		ProviderID:      gocloak.StringP(providerID),
		ProviderType:    gocloak.StringP("org.keycloak.keys.KeyProvider"),
		ParentID:        realm.ID,
		ComponentConfig: &config,
	}); err != nil {
		t.Fatalf("add key provider %q to realm %q: %v", name, r.Name, err)
	}
}

// Endpoints are the realm's Keycloak URLs (docker-v2 token endpoint, JWKS,
// discovery, issuer).
func (r Realm) Endpoints(t testing.TB) keycloak.Realm {
	t.Helper()
	kr, err := keycloak.ParseRealm(r.Server.URL, r.Name)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TokenPath is the stack's default token path for this realm.
func (r Realm) TokenPath() string {
	c := config.Default()
	c.Keycloak.Realm = r.Name
	return c.TokenPath()
}

// StackArgs returns the serve flags for keycloak mode against this realm.
func (r Realm) StackArgs() []string { return r.StackArgsVia(r.Server.URL) }

// StackArgsVia is StackArgs with Keycloak reached at keycloakURL (a relay).
func (r Realm) StackArgsVia(keycloakURL string) []string {
	return []string{"--auth", "keycloak", "--keycloak-url", keycloakURL, "--keycloak-realm", r.Name, "--keycloak-service", r.Service}
}

// Token asks Keycloak's docker-v2 endpoint directly for a token for the
// realm's user.
func (r Realm) Token(t testing.TB, scope string) string {
	t.Helper()
	return r.fetch(t, r.Endpoints(t).DockerAuthURL(), scope)
}

// StackToken asks the token endpoint of the stack at stackURL for a token
// for the realm's user.
func (r Realm) StackToken(t testing.TB, stackURL, scope string) string {
	t.Helper()
	return r.fetch(t, stackURL+r.TokenPath(), scope)
}

func (r Realm) fetch(t testing.TB, endpoint, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	tok, err := dockertoken.Fetch(ctx, &http.Client{Timeout: adminTimeout}, endpoint, dockertoken.Request{Service: r.Service, Scope: scope, User: r.User, Password: r.Password})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
