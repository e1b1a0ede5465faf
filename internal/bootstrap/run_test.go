package bootstrap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
)

// Run against the real Keycloak the test run was given, and against fakes
// for what a real one cannot be made to do.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

type dockerClaims struct {
	Iss    string        `json:"iss"`
	Aud    string        `json:"aud"`
	Sub    string        `json:"sub"`
	Access []accessEntry `json:"access"`
}

// dockerToken fetches a token the way `docker login` does and returns its
// decoded claims.
func dockerToken(t *testing.T, kc keycloaktest.Server, o bootstrap.Options, password, scope string) dockerClaims {
	t.Helper()
	realm := keycloaktest.Realm{Server: kc, Name: o.Realm, Service: o.Service, User: o.User, Password: password}
	var claims dockerClaims
	if err := dockertoken.DecodeUnverified(realm.Token(t, scope), nil, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// options asks for a realm that does not exist yet (deleted when the test
// ends), a client "registry-stack" and the user.
func options(t *testing.T, kc keycloaktest.Server, user, password string) bootstrap.Options {
	return bootstrap.Options{Connection: kc.Connection(), Realm: kc.TempRealm(t, "rs-bootstrap"), Service: "registry-stack", User: user, Password: password}
}

func TestRunIdempotentAndGrantsDockerAccess(t *testing.T) {
	kc := keycloaktest.Require(t)
	o := options(t, kc, "bootstrap-user", "bootstrap-password-1")
	ctx := context.Background()

	first, err := bootstrap.Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if !first.RealmCreated || !first.ClientCreated || !first.UserCreated || !first.PasswordSet {
		t.Errorf("first run = %+v, want realm, client and user created", first)
	}
	if first.MapperAdded {
		t.Errorf("first run reports the mapper as added to an existing client: %+v", first)
	}

	second, err := bootstrap.Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if second.Created() {
		t.Errorf("second run created something: %+v\n%s", second, second.Summary())
	}

	claims := dockerToken(t, kc, o, o.Password, "repository:foo/bar:pull,push")
	if claims.Aud != o.Service || claims.Sub != o.User {
		t.Errorf("aud/sub = %q/%q, want %q/%q", claims.Aud, claims.Sub, o.Service, o.User)
	}
	want := accessEntry{Type: "repository", Name: "foo/bar", Actions: []string{"pull", "push"}}
	if len(claims.Access) != 1 || fmt.Sprint(claims.Access[0]) != fmt.Sprint(want) {
		t.Errorf("access = %+v, want [%+v]", claims.Access, want)
	}

	snippet := second.ConfigSnippet()
	for _, line := range []string{"auth: keycloak", "  url: " + strings.TrimRight(o.KeycloakURL, "/"), "  realm: " + o.Realm, "  service: registry-stack"} {
		if !strings.Contains(snippet, line+"\n") {
			t.Errorf("config snippet lacks %q:\n%s", line, snippet)
		}
	}
}

func TestRunRestoresMissingMapperAndPassword(t *testing.T) {
	kc := keycloaktest.Require(t)
	o := options(t, kc, "mapper-user", "old-password")
	ctx := context.Background()
	if _, err := bootstrap.Run(ctx, o, testLogger(t)); err != nil {
		t.Fatalf("first run: %v", err)
	}

	// Strip the allow-all mapper, as an operator editing the client might.
	gc, tok, err := kc.Admin(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := gc.GetClients(ctx, tok, o.Realm, gocloak.GetClientsParams{ClientID: &o.Service})
	if err != nil || len(clients) != 1 {
		t.Fatalf("get client: %v (%d found)", err, len(clients))
	}
	for _, m := range *clients[0].ProtocolMappers {
		if err := gc.DeleteClientProtocolMapper(ctx, tok, o.Realm, *clients[0].ID, *m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if c := dockerToken(t, kc, o, o.Password, "repository:foo/bar:pull"); len(c.Access) != 0 {
		t.Fatalf("without the mapper access = %+v, want none", c.Access)
	}

	o.Password = "new-password"
	res, err := bootstrap.Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("repair run: %v", err)
	}
	if !res.MapperAdded || res.RealmCreated || res.ClientCreated || res.UserCreated {
		t.Errorf("repair run = %+v, want only the mapper added", res)
	}
	c := dockerToken(t, kc, o, "new-password", "repository:foo/bar:pull")
	if len(c.Access) != 1 || c.Access[0].Name != "foo/bar" {
		t.Errorf("after repair access = %+v, want foo/bar", c.Access)
	}
}

func TestRunWrongAdminPassword(t *testing.T) {
	kc := keycloaktest.Require(t)
	o := bootstrap.Options{Connection: kc.Connection(), Realm: "rs-bootstrap-never-created", Service: "registry-stack"}
	o.AdminPassword = "definitely-not-the-admin-password"
	_, err := bootstrap.Run(context.Background(), o, testLogger(t))
	if err == nil {
		t.Fatal("Run with a wrong admin password succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"invalid admin credentials", o.KeycloakURL, `"` + o.AdminUser + `"`} {
		if !strings.Contains(msg, strings.TrimRight(want, "/")) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, o.AdminPassword) {
		t.Errorf("error leaks the admin password: %q", msg)
	}
}

// fakeKeycloak records request paths and answers like a Keycloak whose
// docker feature is off (answers copied from a real 26.x server).
type fakeKeycloak struct {
	mu    sync.Mutex
	paths []string
}

func (f *fakeKeycloak) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/realms/master/protocol/openid-connect/token"):
		_, _ = io.WriteString(w, `{"access_token":"fake","expires_in":60,"token_type":"Bearer"}`)
	case strings.HasSuffix(r.URL.Path, "/admin/serverinfo"):
		_, _ = io.WriteString(w, `{"features":[{"name":"DOCKER","label":"Docker Registry protocol","type":"DISABLED_BY_DEFAULT","enabled":false}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"unexpected request"}`)
	}
}

func (f *fakeKeycloak) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func TestRunDockerFeatureDisabledKeepsAuthPrefix(t *testing.T) {
	fake := &fakeKeycloak{}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	_, err := bootstrap.Run(context.Background(), bootstrap.Options{
		Connection: bootstrap.Connection{KeycloakURL: srv.URL + "/auth/", AdminUser: "admin", AdminPassword: "admin", Timeout: 5 * time.Second},
		Realm:      "r", Service: "s",
	}, testLogger(t))
	if !errors.Is(err, bootstrap.ErrDockerProtocolDisabled) {
		t.Fatalf("err = %v, want ErrDockerProtocolDisabled", err)
	}
	if !strings.Contains(err.Error(), "--features=docker") {
		t.Errorf("error does not say how to enable the feature: %v", err)
	}
	want := []string{
		"POST /auth/realms/master/protocol/openid-connect/token",
		"GET /auth/admin/serverinfo",
	}
	if got := fake.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests = %q, want %q (nothing created, /auth kept once)", got, want)
	}
}

func TestRunUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there any more

	_, err := bootstrap.Run(context.Background(), bootstrap.Options{
		Connection: bootstrap.Connection{KeycloakURL: u, AdminUser: "admin", AdminPassword: "s3cret-admin", Timeout: 2 * time.Second},
		Realm:      "r", Service: "s",
	}, nil)
	if err == nil || !strings.Contains(err.Error(), u) {
		t.Fatalf("err = %v, want one naming %s", err, u)
	}
	if strings.Contains(err.Error(), "s3cret-admin") {
		t.Errorf("error leaks the admin password: %v", err)
	}
}
