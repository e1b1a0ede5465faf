package bootstrap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"

	"github.com/registry-stack/registry-stack/internal/stacktest"
)

// keycloakEnv returns the admin connection of the Keycloak the test run was
// given (scripts/keycloak.sh start --env-file writes these variables).
func keycloakEnv(t *testing.T) Options {
	t.Helper()
	kc := stacktest.RequireKeycloak(t)
	return Options{KeycloakURL: kc.URL, AdminUser: kc.AdminUser, AdminPassword: kc.AdminPassword, Timeout: 20 * time.Second}
}

// scratchRealm names a realm unique to this run and deletes it afterwards.
func scratchRealm(t *testing.T, o Options) string {
	t.Helper()
	realm := fmt.Sprintf("rs-bootstrap-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kc := gocloak.NewClient(o.KeycloakURL)
		kc.RestyClient().SetTimeout(20 * time.Second)
		jwt, err := kc.LoginAdmin(ctx, o.AdminUser, o.AdminPassword, DefaultAdminRealm)
		if err != nil {
			t.Logf("cleanup: admin login: %v", err)
			return
		}
		if err := kc.DeleteRealm(ctx, jwt.AccessToken, realm); err != nil {
			t.Logf("cleanup: delete realm %s: %v", realm, err)
		}
	})
	return realm
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// dockerToken fetches a token the way `docker login` does and returns its
// decoded claims.
func dockerToken(t *testing.T, base, realm, service, user, password, scope string) (claims struct {
	Iss    string        `json:"iss"`
	Aud    string        `json:"aud"`
	Sub    string        `json:"sub"`
	Access []accessEntry `json:"access"`
}) {
	t.Helper()
	q := url.Values{"service": {service}, "scope": {scope}}
	endpoint := strings.TrimRight(base, "/") + "/realms/" + url.PathEscape(realm) + "/protocol/docker-v2/auth?" + q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	// A redirect (e.g. to a required-action page) is a failure here, not
	// something to follow.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s (Location %q): %.300s", endpoint, resp.Status, resp.Header.Get("Location"), body)
	}
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.Token == "" {
		t.Fatalf("token response from %s: %v: %.300s", endpoint, err, body)
	}
	parts := strings.Split(tr.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode token claims: %v", err)
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("parse token claims: %v: %s", err, raw)
	}
	return claims
}

func TestRunIdempotentAndGrantsDockerAccess(t *testing.T) {
	o := keycloakEnv(t)
	o.Realm = scratchRealm(t, o)
	o.Service = "registry-stack"
	o.User = "bootstrap-user"
	o.Password = "bootstrap-password-1"
	ctx := context.Background()

	first, err := Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if !first.RealmCreated || !first.ClientCreated || !first.UserCreated || !first.PasswordSet {
		t.Errorf("first run = %+v, want realm, client and user created", first)
	}
	if first.MapperAdded {
		t.Errorf("first run reports the mapper as added to an existing client: %+v", first)
	}

	second, err := Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if second.Created() {
		t.Errorf("second run created something: %+v\n%s", second, second.Summary())
	}

	claims := dockerToken(t, o.KeycloakURL, o.Realm, o.Service, o.User, o.Password, "repository:foo/bar:pull,push")
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
	o := keycloakEnv(t)
	o.Realm = scratchRealm(t, o)
	o.Service = "registry-stack"
	o.User = "mapper-user"
	o.Password = "old-password"
	ctx := context.Background()
	if _, err := Run(ctx, o, testLogger(t)); err != nil {
		t.Fatalf("first run: %v", err)
	}

	// Strip the allow-all mapper, as an operator editing the client might.
	kc := gocloak.NewClient(o.KeycloakURL)
	jwt, err := kc.LoginAdmin(ctx, o.AdminUser, o.AdminPassword, DefaultAdminRealm)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kc.GetClients(ctx, jwt.AccessToken, o.Realm, gocloak.GetClientsParams{ClientID: &o.Service})
	if err != nil || len(clients) != 1 {
		t.Fatalf("get client: %v (%d found)", err, len(clients))
	}
	for _, m := range *clients[0].ProtocolMappers {
		if err := kc.DeleteClientProtocolMapper(ctx, jwt.AccessToken, o.Realm, *clients[0].ID, *m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if c := dockerToken(t, o.KeycloakURL, o.Realm, o.Service, o.User, o.Password, "repository:foo/bar:pull"); len(c.Access) != 0 {
		t.Fatalf("without the mapper access = %+v, want none", c.Access)
	}

	o.Password = "new-password"
	res, err := Run(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("repair run: %v", err)
	}
	if !res.MapperAdded || res.RealmCreated || res.ClientCreated || res.UserCreated {
		t.Errorf("repair run = %+v, want only the mapper added", res)
	}
	c := dockerToken(t, o.KeycloakURL, o.Realm, o.Service, o.User, "new-password", "repository:foo/bar:pull")
	if len(c.Access) != 1 || c.Access[0].Name != "foo/bar" {
		t.Errorf("after repair access = %+v, want foo/bar", c.Access)
	}
}

func TestRunWrongAdminPassword(t *testing.T) {
	o := keycloakEnv(t)
	o.AdminPassword = "definitely-not-the-admin-password"
	o.Realm = "rs-bootstrap-never-created"
	o.Service = "registry-stack"
	_, err := Run(context.Background(), o, testLogger(t))
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

func TestOptionsValidation(t *testing.T) {
	valid := Options{KeycloakURL: "http://kc:8080", AdminUser: "a", AdminPassword: "p", Realm: "r", Service: "s"}
	tests := []struct {
		name   string
		modify func(*Options)
		want   string // substring of the error; empty means valid
	}{
		{"valid", func(*Options) {}, ""},
		{"valid with user", func(o *Options) { o.User, o.Password = "u", "pw" }, ""},
		{"missing url and realm", func(o *Options) { o.KeycloakURL, o.Realm = "", "" }, "missing KeycloakURL, Realm"},
		{"missing admin password", func(o *Options) { o.AdminPassword = "" }, "missing AdminPassword"},
		{"not http", func(o *Options) { o.KeycloakURL = "ftp://kc" }, "not an http(s) URL"},
		{"no host", func(o *Options) { o.KeycloakURL = "http://" }, "not an http(s) URL"},
		{"query", func(o *Options) { o.KeycloakURL = "http://kc/?x=1" }, "query or fragment"},
		{"user without password", func(o *Options) { o.User = "u" }, "together"},
		{"password without user", func(o *Options) { o.Password = "pw" }, "together"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.modify(&o)
			err := o.normalize()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidOptions)):
				t.Fatalf("error = %v, want ErrInvalidOptions containing %q", err, tt.want)
			}
			if tt.want == "" && (o.AdminRealm != DefaultAdminRealm || o.Timeout != DefaultTimeout) {
				t.Errorf("defaults not applied: %+v", o)
			}
		})
	}
}

func TestConfigSnippet(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		want string
	}{
		{
			name: "plain",
			res:  Result{KeycloakURL: "http://127.0.0.1:8080", Realm: "registry-stack", Service: "registry-stack"},
			want: "auth: keycloak\nkeycloak:\n  url: http://127.0.0.1:8080\n  realm: registry-stack\n  service: registry-stack\n",
		},
		{
			name: "legacy auth path",
			res:  Result{KeycloakURL: "https://sso.example.test/auth", Realm: "corp", Service: "docker"},
			want: "auth: keycloak\nkeycloak:\n  url: https://sso.example.test/auth\n  realm: corp\n  service: docker\n",
		},
		{
			name: "values YAML would misread",
			res:  Result{KeycloakURL: "http://kc", Realm: "123", Service: "yes"},
			want: "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: \"123\"\n  service: \"yes\"\n",
		},
		{
			name: "spaces and quotes",
			res:  Result{KeycloakURL: "http://kc", Realm: `my "realm" #1`, Service: "a: b"},
			want: "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: \"my \\\"realm\\\" #1\"\n  service: \"a: b\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.res.ConfigSnippet(); got != tt.want {
				t.Errorf("ConfigSnippet() =\n%s\nwant\n%s", got, tt.want)
			}
		})
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

	_, err := Run(context.Background(), Options{
		KeycloakURL: srv.URL + "/auth/", AdminUser: "admin", AdminPassword: "admin",
		Realm: "r", Service: "s", Timeout: 5 * time.Second,
	}, testLogger(t))
	if !errors.Is(err, ErrDockerProtocolDisabled) {
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

	_, err := Run(context.Background(), Options{
		KeycloakURL: u, AdminUser: "admin", AdminPassword: "s3cret-admin",
		Realm: "r", Service: "s", Timeout: 2 * time.Second,
	}, nil)
	if err == nil || !strings.Contains(err.Error(), u) {
		t.Fatalf("err = %v, want one naming %s", err, u)
	}
	if strings.Contains(err.Error(), "s3cret-admin") {
		t.Errorf("error leaks the admin password: %v", err)
	}
}
